import { GetObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, readFileSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

import {
  RETRIEVER_PART_SIZE_BYTES,
  RETRIEVER_PARTS_IN_FLIGHT,
} from "../../src/retriever/retriever-store.ts";
import { buildRetrieverPod } from "../../workflows/steps/retriever-pod.ts";
import { startS3TlsFront } from "../harness/s3-tls-front.ts";
import { startS3 } from "../harness/s3-server.ts";
import { patternEntry, tarStream } from "../harness/tar.ts";

/**
 * A checkpoint archive of ARCHIVE_GIB (default 2) GiB sent to S3 over TLS (s3rver behind a
 * TLS-terminating front with a CA made for the run; both clients trust that CA through their
 * https agent) with the retriever's part size and parts in flight on both sides: first the AWS
 * SDK's own multipart Upload of the file (the baseline), then the retriever (`podmortem
 * retrieve`, its own process with exactly the retriever pod's environment, hashing on the way).
 * The retriever's peak RSS (VmHWM) is read from /proc while it runs and set against the pod's
 * memory limit; the object in S3 is read back and hashed against the file.
 */
const GIB = 1024 ** 3;
const archiveBytes = Math.round(Number(process.env.ARCHIVE_GIB ?? 2) * GIB);
const REPO = path.resolve(import.meta.dirname, "..", "..");
const loadBefore = os.loadavg();

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function mebibytes(quantity: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!match) throw new Error(`unexpected memory quantity ${quantity}`);
  return Number(match[1]) * (match[2] === "Gi" ? 1024 : 1);
}

const dir = await mkdtemp(path.join(os.tmpdir(), "podmortem-exfil-"));
const archive = path.join(dir, "checkpoint.tar");
await pipeline(
  tarStream([patternEntry("checkpoint/pages-1.img", archiveBytes)]),
  createWriteStream(archive),
);
const { size } = await stat(archive);
const fileSha256 = await sha256Of(createReadStream(archive));
const s3 = await startS3();
const front = await startS3TlsFront(s3);
const reader = front.client();

const baselineStarted = performance.now();
await new Upload({
  client: front.client({ maxSockets: RETRIEVER_PARTS_IN_FLIGHT + 1 }),
  params: {
    Bucket: s3.bucket,
    Key: "baseline/checkpoint.tar",
    Body: createReadStream(archive, { highWaterMark: 1024 * 1024 }),
  },
  partSize: RETRIEVER_PART_SIZE_BYTES,
  queueSize: RETRIEVER_PARTS_IN_FLIGHT,
}).done();
const baselineSeconds = (performance.now() - baselineStarted) / 1000;

const terminationLog = path.join(dir, "termination-log");
const retrieverContainer = buildRetrieverPod({
  captureId: "pm-bench",
  node: "node-a",
  archivePath: archive,
  key: "exfil/checkpoint.tar",
  maxBytes: size + 1,
  deleteFromNode: false,
  retriever: { image: "podmortem:dev", namespace: "podmortem", s3Secret: undefined },
  evidence: {
    kind: "s3",
    bucket: s3.bucket,
    prefix: undefined,
    endpoint: front.endpoint,
    region: s3.region,
    forcePathStyle: true,
    kmsKeyId: undefined,
  },
}).spec!.containers[0]!;
const podEnv = Object.fromEntries(
  (retrieverContainer.env ?? []).map((variable) => [variable.name, variable.value ?? ""]),
);
const memoryLimit = retrieverContainer.resources!.limits!.memory!;
const sessionsBefore = front.sessions;
const retrieverStarted = performance.now();
const child = spawn(
  path.join(REPO, "node_modules", ".bin", "node"),
  // The pod's own command: ["podmortem", "retrieve", ...].
  [path.join(REPO, "bin", "podmortem.js"), ...(retrieverContainer.command ?? []).slice(1)],
  {
    env: {
      PATH: process.env.PATH,
      // Exactly the environment the retriever pod's spec gives it (heap caps, arenas, store),
      ...podEnv,
      // plus what an operator with a privately signed S3 endpoint puts in the retriever's S3
      // Secret (envFrom): the CA, and the keys.
      PODMORTEM_S3_CA_PEM: readFileSync(front.caFile, "utf8"),
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      PODMORTEM_TERMINATION_LOG: terminationLog,
    },
    stdio: ["ignore", "ignore", "inherit"],
  },
);
let peakRssKiB = 0;
const sampler = setInterval(() => {
  try {
    const line = readFileSync(`/proc/${child.pid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/);
    if (line) peakRssKiB = Math.max(peakRssKiB, Number(line[1]));
  } catch {
    // exited
  }
}, 50);
const exitCode = await new Promise<number | null>((resolve) => child.once("exit", resolve));
clearInterval(sampler);
const retrieverSeconds = (performance.now() - retrieverStarted) / 1000;
const retrieverSessions = front.sessions - sessionsBefore;
const result = JSON.parse(readFileSync(terminationLog, "utf8")) as {
  sha256?: string;
  size?: number;
};
const stored = await reader.send(
  new GetObjectCommand({ Bucket: s3.bucket, Key: "exfil/checkpoint.tar" }),
);
const storedSha256 = await sha256Of(stored.Body as Readable);
await rm(dir, { recursive: true, force: true });

const mib = size / 1024 / 1024;
const limitMiB = mebibytes(memoryLimit);
const peakRssMiB = peakRssKiB / 1024;
const ok = exitCode === 0 && result.sha256 === fileSha256 && storedSha256 === fileSha256;
process.stdout.write(
  `${JSON.stringify({
    benchmark: "checkpoint-exfiltration-tls",
    includes: [
      "TLS 1.3 on both sides (s3rver behind a TLS-terminating front, CA trusted via https agent)",
      "same part size and parts in flight on both sides",
      "retriever: its own process, the retriever pod's env (NODE_OPTIONS heap caps, MALLOC_ARENA_MAX), SHA-256 on the way",
      "object read back over TLS and hashed after the run (not timed)",
      "s3rver writes to local disk on the same machine",
    ],
    archiveBytes: size,
    partSizeMiB: RETRIEVER_PART_SIZE_BYTES / 1024 / 1024,
    partsInFlight: RETRIEVER_PARTS_IN_FLIGHT,
    baselineSdkUpload: {
      seconds: Number(baselineSeconds.toFixed(2)),
      mibPerSecond: Number((mib / baselineSeconds).toFixed(1)),
    },
    retriever: {
      exitCode,
      seconds: Number(retrieverSeconds.toFixed(2)),
      mibPerSecond: Number((mib / retrieverSeconds).toFixed(1)),
      ofBaselineSpeed: Number((baselineSeconds / retrieverSeconds).toFixed(2)),
      tlsSessions: retrieverSessions,
      peakRssMiB: Number(peakRssMiB.toFixed(1)),
      podMemoryLimit: memoryLimit,
      peakOfLimitPercent: Number(((100 * peakRssMiB) / limitMiB).toFixed(1)),
      target: "peak RSS <= 85 % of the limit",
      withinTarget: peakRssMiB <= 0.85 * limitMiB,
      reportedSize: result.size,
      sha256MatchesFile: result.sha256 === fileSha256,
      storedObjectSha256MatchesFile: storedSha256 === fileSha256,
    },
    loadavg: { before: loadBefore, after: os.loadavg() },
  })}\n`,
);
await front[Symbol.asyncDispose]();
await s3[Symbol.asyncDispose]();
process.exit(ok ? 0 : 1);
