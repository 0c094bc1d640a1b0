import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import type { EvidenceStore } from "../../src/evidence/evidence-store.ts";
import { sha256Hex } from "../../src/evidence/hashing.ts";
import { classifyS3Error } from "../../src/evidence/s3-errors.ts";
import { createS3Client, createS3Store } from "../../src/evidence/s3-store.ts";
import { createRetrieverStore } from "../../src/retriever/retriever-store.ts";
import { startS3TlsFront } from "../harness/s3-tls-front.ts";
import { startS3, type S3Harness } from "../harness/s3-server.ts";

let s3: S3Harness;
let dir: string;

beforeAll(async () => {
  s3 = await startS3();
  dir = await mkdtemp(path.join(os.tmpdir(), "podmortem-dir-store-"));
});
afterAll(async () => {
  await s3?.[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

function s3Store(prefix = "") {
  const client = createS3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
  });
  return createS3Store({ client, bucket: s3.bucket, prefix });
}

const stores: Array<[string, () => EvidenceStore]> = [
  ["directory", () => createDirStore(dir)],
  ["S3", () => s3Store("cluster-a/")],
];

describe.each(stores)("the %s evidence store", (storeName, makeStore) => {
  it("reads back what it wrote, with the hash an independent hash computes", async () => {
    const store = makeStore();
    const body = "line one\nline two\n";
    const stored = await store.put("shop/pod-1/t/crash.log", Readable.from([body]));
    expect(stored).toMatchObject({ size: body.length, sha256: sha256Hex(body), truncated: false });
    expect(await text(await store.get("shop/pod-1/t/crash.log"))).toBe(body);
    expect(await store.head("shop/pod-1/t/crash.log")).toEqual({ size: body.length });
    expect(await store.list("shop/pod-1/")).toEqual(["shop/pod-1/t/crash.log"]);
  });

  it("cuts a body at maxBytes and says so", async () => {
    const body = Readable.from(["01", "23", "45", "6789"]);
    const stored = await makeStore().put("shop/pod-2/t/crash.log", body, { maxBytes: 4 });
    expect(stored).toMatchObject({ size: 4, sha256: sha256Hex("0123"), truncated: true });
    expect(await text(await makeStore().get("shop/pod-2/t/crash.log"))).toBe("0123");
  });

  it("streams a 64 MiB body in flat memory and seals it with the right hash", async () => {
    const store = makeStore();
    const mib = 1024 * 1024;
    const chunks = 64;
    const independent = createHash("sha256");
    // Fresh 256 KiB chunks from a byte stream, as a log or checkpoint download gives them.
    const chunkBytes = 256 * 1024;
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent === chunks * mib) return void this.push(null);
        const chunk = Buffer.alloc(chunkBytes, sent / chunkBytes);
        independent.update(chunk);
        sent += chunk.length;
        this.push(chunk);
      },
    });
    const memory = sampleMemory();
    const stored = await store.put("shop/pod-3/t/checkpoint-app.tar", body);
    const growth = memory.stop();
    console.log(JSON.stringify({ store: storeName, bodyMiB: chunks, ...growth }));

    expect(stored.size).toBe(chunks * mib);
    expect(stored.sha256).toBe(independent.digest("hex"));
    expect(await store.head("shop/pod-3/t/checkpoint-app.tar")).toEqual({ size: chunks * mib });
    const readBack = createHash("sha256");
    for await (const chunk of await store.get("shop/pod-3/t/checkpoint-app.tar")) {
      readBack.update(chunk as Buffer);
    }
    expect(readBack.digest("hex")).toBe(stored.sha256);
    // A sanity bound, not a benchmark: V8 lets tens of MiB of spent buffers pile up before it
    // collects them, so only a leak well past the body's size fails here.
    expect(growth.rssGrowthMiB).toBeLessThan(128);
  });

  it("overwrites a key with the newer body", async () => {
    const store = makeStore();
    await store.put("shop/pod-4/t/pod.json", "{}");
    await store.put("shop/pod-4/t/pod.json", '{"v":2}', { contentType: "application/json" });
    expect(await text(await store.get("shop/pod-4/t/pod.json"))).toBe('{"v":2}');
  });

  it("fails a put whose source fails, leaving nothing under the key", async () => {
    const store = makeStore();
    const body = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024, 1));
        this.destroy(new Error("log stream cut"));
      },
    });
    await expect(store.put("shop/pod-5/t/crash.log", body)).rejects.toThrow("log stream cut");
    expect(await store.head("shop/pod-5/t/crash.log")).toBeUndefined();
    expect(await store.list("shop/pod-5/")).toEqual([]);
  });

  it("answers undefined to head and an error to get for a missing key", async () => {
    const store = makeStore();
    expect(await store.head("shop/none/t/crash.log")).toBeUndefined();
    await expect(store.get("shop/none/t/crash.log")).rejects.toThrow();
  });
});

describe("the directory evidence store", () => {
  it("refuses a key that climbs out of its folder", async () => {
    await expect(createDirStore(dir).put("../escape.txt", "x")).rejects.toThrow(/escapes/);
  });

  it("describes itself and its keys as file URLs", () => {
    const store = createDirStore(dir);
    expect(store.describe()).toBe(pathToFileURL(dir).href);
    expect(store.uri("ns/pod/t/crash.log")).toBe(
      pathToFileURL(path.join(dir, "ns/pod/t/crash.log")).href,
    );
  });
});

describe("the S3 evidence store", () => {
  it("describes itself and its keys as s3:// URIs under its prefix, without credentials", () => {
    const store = s3Store("cluster-a/");
    expect(store.describe()).toBe(`s3://${s3.bucket}/cluster-a/`);
    expect(store.uri("ns/pod/t/crash.log")).toBe(`s3://${s3.bucket}/cluster-a/ns/pod/t/crash.log`);
    expect(store.describe()).not.toContain(s3.credentials.secretAccessKey);
  });

  it("writes under its prefix and lists keys relative to it", async () => {
    await s3Store("cluster-b/").put("ns/pod/t/events.json", "[]");
    expect(await s3.listKeys("cluster-b/")).toEqual(["cluster-b/ns/pod/t/events.json"]);
    expect(await s3Store("cluster-b/").list("ns/")).toEqual(["ns/pod/t/events.json"]);
  });

  it("uploads multi-part bodies through the harness's own client too", async () => {
    const store = createS3Store({ client: s3.client(), bucket: s3.bucket, prefix: "harness/" });
    const body = Buffer.alloc(11 * 1024 * 1024, 3);
    const stored = await store.put("big.bin", body);
    expect(stored.sha256).toBe(sha256Hex(body));
    expect(sha256Hex(await s3.getObjectBytes("harness/big.bin"))).toBe(stored.sha256);
  });
});

describe("S3 throttling", () => {
  it("is classified retryable, and the next attempt lands", async () => {
    const store = s3Store();
    s3.failNext(1);
    const failure = await store.put("throttled.txt", "x").catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: "SlowDown", $metadata: { httpStatusCode: 503 } });
    expect(classifyS3Error(failure)).toBe("retryable");
    await expect(store.put("throttled.txt", "x")).resolves.toMatchObject({ size: 1 });
    expect(await text(await store.get("throttled.txt"))).toBe("x");
  });

  it("fails a streamed multi-part put promptly and releases its source", async () => {
    const store = s3Store();
    let sourceClosed = false;
    let sent = 0;
    const body = new Readable({
      read() {
        sent += 1;
        this.push(sent > 64 ? null : Buffer.alloc(1024 * 1024, 5));
      },
    });
    body.once("close", () => (sourceClosed = true));
    s3.failFor(60_000);
    try {
      const failure = await store.put("throttled/big.bin", body).catch((error: unknown) => error);
      expect(classifyS3Error(failure)).toBe("retryable");
    } finally {
      s3.failFor(0);
    }
    expect(sourceClosed).toBe(true);
    expect(sent).toBeLessThan(64);
    expect(await s3.listKeys("throttled/")).toEqual([]);
  });

  it("lands a put once a burst of 503s is over", async () => {
    const store = s3Store();
    s3.failFor(300);
    const first = await store.put("burst.txt", "y").catch((error: unknown) => error);
    expect(classifyS3Error(first)).toBe("retryable");
    await new Promise((resolve) => setTimeout(resolve, 350));
    await expect(store.put("burst.txt", "y")).resolves.toMatchObject({ size: 1 });
  });

  it("calls a missing bucket terminal", async () => {
    const client = createS3Client({
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: s3.credentials,
    });
    const store = createS3Store({ client, bucket: "no-such-bucket" });
    const failure = await store.put("x.txt", "x").catch((error: unknown) => error);
    expect(classifyS3Error(failure)).toBe("terminal");
  });
});

describe("classifyS3Error", () => {
  const answer = (name: string, httpStatusCode?: number) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode } });

  it.each([
    ["AccessDenied", 403],
    ["InvalidAccessKeyId", 403],
    ["NoSuchBucket", 404],
    ["NoSuchKey", 404],
    ["InvalidArgument", 400],
  ])("calls %s (%i) terminal", (name, status) => {
    expect(classifyS3Error(answer(name, status))).toBe("terminal");
  });

  it.each([
    ["SlowDown", 503],
    ["InternalError", 500],
    ["RequestTimeout", 400],
    ["RequestTimeTooSkewed", 403],
    ["ExpiredToken", 400],
    ["TooManyRequests", 429],
  ])("calls %s (%i) retryable", (name, status) => {
    expect(classifyS3Error(answer(name, status))).toBe("retryable");
  });

  it("calls network errors, timeouts and unknowns retryable", () => {
    expect(classifyS3Error(Object.assign(new Error("reset"), { code: "ECONNRESET" }))).toBe(
      "retryable",
    );
    expect(classifyS3Error(Object.assign(new Error("slow"), { name: "TimeoutError" }))).toBe(
      "retryable",
    );
    expect(classifyS3Error("???")).toBe("retryable");
  });

  it("looks through a wrapper to the S3 answer it carries", () => {
    const wrapped = new Error("upload failed", { cause: answer("AccessDenied", 403) });
    expect(classifyS3Error(wrapped)).toBe("terminal");
  });
});

// Peak resident memory while put() runs. It counts garbage the collector has not reclaimed yet
// (V8 collects external buffers in batches of tens of MiB), so it is an upper bound.
function sampleMemory() {
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakBuffers = before.arrayBuffers;
  const sample = () => {
    const now = process.memoryUsage();
    peakRss = Math.max(peakRss, now.rss);
    peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
  };
  const timer = setInterval(sample, 5);
  const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  return {
    stop() {
      clearInterval(timer);
      sample();
      return {
        rssGrowthMiB: mib(peakRss - before.rss),
        arrayBuffersGrowthMiB: mib(peakBuffers - before.arrayBuffers),
      };
    },
  };
}

describe("the retriever's archive upload", () => {
  const MIB = 1024 * 1024;
  const settings = (endpoint: string) => ({
    kind: "s3" as const,
    bucket: s3.bucket,
    prefix: undefined,
    endpoint,
    region: s3.region,
    forcePathStyle: true,
    kmsKeyId: undefined,
  });
  /** The retriever takes its keys from the SDK's default chain, as in its pod. */
  async function withKeys<T>(action: () => Promise<T>): Promise<T> {
    const saved = [process.env.AWS_ACCESS_KEY_ID, process.env.AWS_SECRET_ACCESS_KEY];
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    try {
      return await action();
    } finally {
      [process.env.AWS_ACCESS_KEY_ID, process.env.AWS_SECRET_ACCESS_KEY] = saved;
    }
  }
  async function archive(bytes: number): Promise<{ file: string; body: Buffer }> {
    const body = randomBytes(bytes);
    const file = path.join(dir, `archive-${bytes}.tar`);
    await writeFile(file, body);
    return { file, body };
  }

  it("sends an archive over TLS in parts, trusting the S3 endpoint's own CA and no other", async () => {
    await using front = await startS3TlsFront(s3);
    const { file, body } = await archive(12 * MIB + 123);
    const ca = { pem: await readFile(front.caFile, "utf8") };
    const trusting = createRetrieverStore(settings(front.endpoint), { ca });
    const stored = await withKeys(() => trusting.putFile("tls/a.tar", file)).finally(() =>
      trusting.close(),
    );
    expect(stored).toEqual({
      key: "tls/a.tar",
      uri: `s3://${s3.bucket}/tls/a.tar`,
      size: body.length,
      sha256: sha256Hex(body),
    });
    expect(sha256Hex(await s3.getObjectBytes("tls/a.tar"))).toBe(sha256Hex(body));
    // Without the CA the certificate is refused: verification is on.
    const untrusting = createRetrieverStore(settings(front.endpoint));
    await expect(
      withKeys(() => untrusting.putFile("tls/b.tar", file)).finally(() => untrusting.close()),
    ).rejects.toThrow(/certificate/i);
    expect(await s3.listKeys("tls/")).toEqual(["tls/a.tar"]);
  });

  it("sends a throttled part again, whole, and completes the object", async () => {
    const { file, body } = await archive(16 * MIB);
    const before = s3.requestCount();
    const throttledBefore = s3.throttledCount();
    // Once CreateMultipartUpload is in, the next two requests (parts: the object is completed
    // only after all four) answer 503 SlowDown.
    const arm = setInterval(() => {
      if (s3.requestCount() > before) {
        s3.failNext(2);
        clearInterval(arm);
      }
    }, 1);
    const store = createRetrieverStore(settings(s3.endpoint));
    const stored = await withKeys(() => store.putFile("throttled/a.tar", file)).finally(() => {
      clearInterval(arm);
      store.close();
    });
    expect(s3.throttledCount() - throttledBefore).toBe(2);
    expect(stored).toMatchObject({ size: body.length, sha256: sha256Hex(body) });
    expect(sha256Hex(await s3.getObjectBytes("throttled/a.tar"))).toBe(sha256Hex(body));
  });
});
