import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import type { EvidenceStore } from "../../src/evidence/evidence-store.ts";
import { sha256Hex } from "../../src/evidence/hashing.ts";
import { classifyS3Error } from "../../src/evidence/s3-errors.ts";
import { createS3Client, createS3Store } from "../../src/evidence/s3-store.ts";
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
  return createS3Store({ client, bucket: s3.bucket, prefix, partSizeBytes: 5 * 1024 * 1024 });
}

const stores: Array<[string, () => EvidenceStore]> = [
  ["directory", () => createDirStore(dir)],
  ["S3", () => s3Store("cluster-a/")],
];

describe.each(stores)("the %s evidence store", (_name, makeStore) => {
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
    const stored = await makeStore().put("shop/pod-2/t/crash.log", "0123456789", { maxBytes: 4 });
    expect(stored).toMatchObject({ size: 4, sha256: sha256Hex("0123"), truncated: true });
  });

  it("streams a multi-part body without holding it in memory", async () => {
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const chunks = 24;
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < chunks; i += 1) yield chunk;
      })(),
    );
    const stored = await makeStore().put("shop/pod-3/t/checkpoint-app.tar", body);
    expect(stored.size).toBe(chunks * chunk.length);
    expect(stored.sha256).toBe(
      sha256Hex(Buffer.concat(Array.from({ length: chunks }, () => chunk))),
    );
  });
});

describe("S3 throttling", () => {
  it("is classified retryable, and the next attempt lands", async () => {
    const store = s3Store();
    s3.failNext(1);
    const failure = await store.put("throttled.txt", "x").catch((error: unknown) => error);
    expect(classifyS3Error(failure)).toBe("retryable");
    await expect(store.put("throttled.txt", "x")).resolves.toMatchObject({ size: 1 });
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
