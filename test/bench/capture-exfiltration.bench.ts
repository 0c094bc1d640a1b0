import { Upload } from "@aws-sdk/lib-storage";
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream, readFileSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";

import { buildRetrieverPod } from "../../workflows/steps/retriever-pod.ts";
import { startS3 } from "../harness/s3-server.ts";
import { patternEntry, tarStream } from "../harness/tar.ts";

/**
 * A checkpoint archive of ARCHIVE_GIB (default 2) GiB: first the S3 server's raw speed (the AWS
 * SDK's multipart Upload of the file, nothing else), then the retriever (`podmortem retrieve`,
 * its own process, hashing on the way) on the same file; the retriever's peak RSS is read from
 * /proc while it runs.
 */
const GIB = 1024 ** 3;
const archiveBytes = Math.round(Number(process.env.ARCHIVE_GIB ?? 2) * GIB);
const REPO = path.resolve(import.meta.dirname, "..", "..");

const dir = await mkdtemp(path.join(os.tmpdir(), "podmortem-exfil-"));
const archive = path.join(dir, "checkpoint.tar");
await pipeline(
  tarStream([patternEntry("checkpoint/pages-1.img", archiveBytes)]),
  createWriteStream(archive),
);
const { size } = await stat(archive);
await using s3 = await startS3();

const rawStarted = performance.now();
await new Upload({
  client: s3.client(),
  params: {
    Bucket: s3.bucket,
    Key: "raw/checkpoint.tar",
    Body: createReadStream(archive, { highWaterMark: 1024 * 1024 }),
  },
  partSize: 8 * 1024 * 1024,
  queueSize: 2,
}).done();
const rawSeconds = (performance.now() - rawStarted) / 1000;

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
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    kmsKeyId: undefined,
  },
}).spec!.containers[0]!;
const podEnv = Object.fromEntries(
  (retrieverContainer.env ?? []).map((variable) => [variable.name, variable.value ?? ""]),
);
const memoryLimit = retrieverContainer.resources?.limits?.memory;
const retrieverStarted = performance.now();
const child = spawn(
  path.join(REPO, "node_modules", ".bin", "node"),
  // The pod's own command: ["podmortem", "retrieve", ...].
  [path.join(REPO, "bin", "podmortem.js"), ...(retrieverContainer.command ?? []).slice(1)],
  {
    env: {
      PATH: process.env.PATH,
      // Exactly the environment the retriever pod's spec gives it (heap caps, arenas, store).
      ...podEnv,
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
}, 100);
const exitCode = await new Promise<number | null>((resolve) => child.once("exit", resolve));
clearInterval(sampler);
const retrieverSeconds = (performance.now() - retrieverStarted) / 1000;
const result = JSON.parse(readFileSync(terminationLog, "utf8")) as {
  sha256?: string;
  size?: number;
};
await rm(dir, { recursive: true, force: true });

const mib = size / 1024 / 1024;
process.stdout.write(
  `${JSON.stringify({
    benchmark: "checkpoint-exfiltration",
    archiveBytes: size,
    rawS3: {
      seconds: Number(rawSeconds.toFixed(2)),
      mibPerSecond: Number((mib / rawSeconds).toFixed(1)),
    },
    retriever: {
      exitCode,
      seconds: Number(retrieverSeconds.toFixed(2)),
      mibPerSecond: Number((mib / retrieverSeconds).toFixed(1)),
      ofRawSpeed: Number((rawSeconds / retrieverSeconds).toFixed(2)),
      peakRssMiB: Number((peakRssKiB / 1024).toFixed(1)),
      target: "peak RSS <= 128 MiB",
      podMemoryLimit: memoryLimit,
      reportedSize: result.size,
      sha256: result.sha256,
    },
  })}\n`,
);
