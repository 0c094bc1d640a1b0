import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";

import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";

import { custodySchema, type Custody } from "./custody.ts";

export type Expected = { bundleSha256?: string | undefined; logSha256?: string | undefined };
export type Mismatch = { artifact: string; expected: string; actual: string; against: string };
export type ExportReport = {
  custodyUri: string;
  out: string;
  files: Array<{ name: string; size: number; sha256: string; ok: boolean }>;
  mismatches: Mismatch[];
};

/** Opens an evidence URI: `s3://bucket/key` through the client, `file://` from the disk. */
export function createUriReader(s3: () => S3Client) {
  return async (uri: string): Promise<Readable> => {
    const url = new URL(uri);
    if (url.protocol === "file:") return createReadStream(fileURLToPath(url));
    if (url.protocol === "s3:") {
      const answer = await s3().send(
        new GetObjectCommand({
          Bucket: url.hostname,
          Key: decodeURIComponent(url.pathname.slice(1)),
        }),
      );
      return answer.Body as Readable;
    }
    throw new Error(`unsupported evidence URI ${uri}: only s3:// and file://`);
  };
}

async function download(
  open: (uri: string) => Promise<Readable>,
  uri: string,
  target: string,
  onBytes: (n: number) => void,
) {
  const hash = createHash("sha256");
  let size = 0;
  await mkdir(path.dirname(target), { recursive: true });
  await pipeline(
    await open(uri),
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        onBytes(chunk.length);
        callback(null, chunk);
      },
    }),
    createWriteStream(target),
  );
  return { size, sha256: hash.digest("hex") };
}

/**
 * Downloads a capture's evidence and checks every byte against the chain of custody: each
 * artifact against `custody.json`, `custody.json` against the bundle hash recorded elsewhere
 * (the forensic pod's annotation, the capture's status), `crash.log` against its annotation.
 */
export async function exportEvidence(input: {
  custodyUri: string;
  out: string;
  expected: Expected;
  open: (uri: string) => Promise<Readable>;
  onProgress?: (name: string, bytes: number) => void;
}): Promise<ExportReport> {
  const mismatches: Mismatch[] = [];
  const files: ExportReport["files"] = [];
  const progress = (name: string) => (n: number) => input.onProgress?.(name, n);
  const custodyTarget = path.join(input.out, "custody.json");
  const custodyFile = await download(
    input.open,
    input.custodyUri,
    custodyTarget,
    progress("custody.json"),
  );
  const custodyOk =
    !input.expected.bundleSha256 || input.expected.bundleSha256 === custodyFile.sha256;
  if (!custodyOk) {
    mismatches.push({
      artifact: "custody.json",
      expected: input.expected.bundleSha256!,
      actual: custodyFile.sha256,
      against: "forensic.io/bundle-sha256",
    });
  }
  files.push({ name: "custody.json", ...custodyFile, ok: custodyOk });
  const { readFile } = await import("node:fs/promises");
  const custody: Custody = custodySchema.parse(JSON.parse(await readFile(custodyTarget, "utf8")));
  for (const artifact of custody.artifacts) {
    const relative =
      artifact.key.slice(artifact.key.lastIndexOf(`/${artifact.name}`) + 1) || artifact.name;
    const got = await download(
      input.open,
      artifact.uri,
      path.join(input.out, relative),
      progress(artifact.name),
    );
    let ok = got.sha256 === artifact.sha256 && got.size === artifact.size;
    if (!ok)
      mismatches.push({
        artifact: artifact.name,
        expected: artifact.sha256,
        actual: got.sha256,
        against: "custody.json",
      });
    if (
      artifact.name === "crash.log" &&
      input.expected.logSha256 &&
      input.expected.logSha256 !== got.sha256
    ) {
      ok = false;
      mismatches.push({
        artifact: "crash.log",
        expected: input.expected.logSha256,
        actual: got.sha256,
        against: "forensic.io/log-sha256",
      });
    }
    files.push({ name: relative, ...got, ok });
  }
  return { custodyUri: input.custodyUri, out: input.out, files, mismatches };
}
