import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, open, realpath } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";

import { describeProblems, listProblems } from "../model/validation.ts";
import { EVIDENCE_FILES } from "./evidence-layout.ts";
import { custodySchema, isSafeRelativePath, MAX_CUSTODY_BYTES, type Custody } from "./custody.ts";

/**
 * What export trusts, recorded away from the bundle: where custody.json is, the hash it must
 * have, optionally crash.log's hash, and where these came from (for the report).
 */
export type TrustedCustody = {
  uri: string;
  sha256: string | undefined;
  logSha256?: string | undefined;
  source: string;
  logSource?: string | undefined;
};
export type Mismatch = { artifact: string; expected: string; actual: string; against: string };
export type ExportReport = {
  custodyUri: string;
  out: string;
  trustedFrom: string;
  files: Array<{ name: string; size: number; sha256: string; ok: boolean }>;
  mismatches: Mismatch[];
  /** Why export stopped without following custody.json (any further), or null. */
  refusal: string | null;
  /** Artifacts custody.json lists that were not downloaded because export stopped first. */
  skipped: number;
};

/** The capture's folder, taken from the trusted custody URI only: nothing is read outside it. */
export type EvidenceFolder =
  | { kind: "s3"; bucket: string; folderKey: string; folderUri: string }
  | { kind: "file"; folderPath: string; folderUri: string };

export function evidenceFolderOf(custodyUri: string): EvidenceFolder | string {
  let url: URL;
  try {
    url = new URL(custodyUri);
  } catch {
    return "the custody URI is not a URI";
  }
  const suffix = `/${EVIDENCE_FILES.custody}`;
  if (url.protocol === "s3:") {
    const key = decodeURIComponent(url.pathname.slice(1));
    if (!url.hostname || !key.endsWith(suffix) || !isSafeRelativePath(key))
      return `the custody URI is not s3://BUCKET/FOLDER/${EVIDENCE_FILES.custody}`;
    const folderKey = key.slice(0, -EVIDENCE_FILES.custody.length);
    return {
      kind: "s3",
      bucket: url.hostname,
      folderKey,
      folderUri: `s3://${url.hostname}/${folderKey}`,
    };
  }
  if (url.protocol === "file:") {
    const file = fileURLToPath(url);
    if (path.basename(file) !== EVIDENCE_FILES.custody)
      return `the custody URI is not file:///FOLDER/${EVIDENCE_FILES.custody}`;
    const folderPath = path.dirname(file);
    return {
      kind: "file",
      folderPath,
      folderUri: `${url.href.slice(0, -EVIDENCE_FILES.custody.length)}`,
    };
  }
  return "the custody URI is neither s3:// nor file://";
}

/** The object or file for a name inside the folder, and never anything else. */
export function createFolderReader(folder: EvidenceFolder, s3: () => S3Client) {
  return async (name: string): Promise<Readable> => {
    if (!isSafeRelativePath(name)) throw new Error(`unsafe evidence name ${JSON.stringify(name)}`);
    if (folder.kind === "s3") {
      const answer = await s3().send(
        new GetObjectCommand({ Bucket: folder.bucket, Key: `${folder.folderKey}${name}` }),
      );
      return answer.Body as Readable;
    }
    const file = path.resolve(folder.folderPath, name);
    if (!file.startsWith(`${path.resolve(folder.folderPath)}${path.sep}`))
      throw new Error(`evidence name escapes its folder: ${name}`);
    // No symlink planted in the evidence folder makes export copy some other file.
    const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    return handle.createReadStream();
  };
}

/**
 * Where an artifact must be, given its name: the same folder as custody.json, at `<folder><name>`,
 * its key ending in the same. Null when it is; the reason otherwise.
 */
export function misplacement(
  artifact: Custody["artifacts"][number],
  folder: EvidenceFolder,
): string | null {
  const label = JSON.stringify(artifact.name);
  if (artifact.name === EVIDENCE_FILES.custody)
    return `artifact ${label} would replace custody.json`;
  if (
    !artifact.key.endsWith(artifact.name) ||
    !artifact.key.slice(0, -artifact.name.length).endsWith("/")
  )
    return `artifact ${label} has a key that is not its folder followed by its name`;
  if (folder.kind === "s3") {
    if (artifact.uri !== `${folder.folderUri}${artifact.name}`)
      return `artifact ${label} points outside the capture's folder ${folder.folderUri}`;
    if (artifact.key !== `${folder.folderKey}${artifact.name}`)
      return `artifact ${label} has a key outside the capture's folder`;
    return null;
  }
  let file: string;
  try {
    file = fileURLToPath(artifact.uri);
  } catch {
    return `artifact ${label} has a URI that is not a file path`;
  }
  if (file !== path.join(folder.folderPath, artifact.name))
    return `artifact ${label} points outside the capture's folder ${folder.folderUri}`;
  return null;
}

class RefusedError extends Error {}

/** An object or file that is not there: S3's NoSuchKey (404) or ENOENT. */
function isMissing(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const code = (error as { code?: string; name?: string }).code ?? (error as Error).name;
  return status === 404 || code === "ENOENT" || code === "NoSuchKey";
}

/** A directory under root, made one segment at a time so no symlink on the way is followed. */
async function ensureDirectoryInside(root: string, relativeDir: string): Promise<void> {
  let current = root;
  for (const segment of relativeDir === "." ? [] : relativeDir.split("/")) {
    current = path.join(current, segment);
    const existing = await lstat(current).catch(() => undefined);
    if (!existing) await mkdir(current);
    else if (!existing.isDirectory())
      throw new RefusedError(`${path.relative(root, current)} in --out is not a plain directory`);
  }
}

/** A write stream for root/relative that can land nowhere but inside root. */
async function createWriteInside(root: string, relative: string) {
  if (!isSafeRelativePath(relative)) throw new RefusedError(`unsafe file name ${relative}`);
  const target = path.resolve(root, relative);
  if (!target.startsWith(`${root}${path.sep}`))
    throw new RefusedError(`${relative} would be written outside --out`);
  await ensureDirectoryInside(root, path.posix.dirname(relative));
  try {
    const handle = await open(
      target,
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    );
    return handle.createWriteStream();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOOP")
      throw new RefusedError(`${relative} in --out is a symlink`);
    throw error;
  }
}

/** Hashes what flows through, and stops a stream that runs past the size it should have. */
function hashingCounter(limit: number, onBytes: (n: number) => void) {
  const hash = createHash("sha256");
  let size = 0;
  const transform = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > limit) {
        callback(new RefusedError(`longer than the ${limit} bytes custody.json records`));
        return;
      }
      hash.update(chunk);
      onBytes(chunk.length);
      callback(null, chunk);
    },
  });
  return { transform, result: () => ({ size, sha256: hash.digest("hex") }) };
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += bytes.length;
    if (size > limit) {
      stream.destroy();
      throw new RefusedError(`custody.json is larger than ${limit} bytes`);
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

/**
 * Downloads a capture's evidence and checks every byte against the chain of custody, trusting
 * nothing the bundle says until it is proven: custody.json must hash to the trusted hash before
 * any of it is read; every artifact must sit in custody.json's own folder under a safe name;
 * every write stays inside `out`; the first artifact that does not match stops the export.
 */
export async function exportEvidence(input: {
  trusted: TrustedCustody;
  out: string;
  s3: () => S3Client;
  onProgress?: (name: string, bytes: number) => void;
}): Promise<ExportReport> {
  const { trusted } = input;
  const report: ExportReport = {
    custodyUri: trusted.uri,
    out: input.out,
    trustedFrom: trusted.source,
    files: [],
    mismatches: [],
    refusal: null,
    skipped: 0,
  };
  const refuse = (why: string) => ((report.refusal = why), report);
  const folder = evidenceFolderOf(trusted.uri);
  if (typeof folder === "string") return refuse(folder);
  if (!trusted.sha256)
    return refuse(`${trusted.source} records no custody.json hash to check against`);
  const read = createFolderReader(folder, input.s3);

  let bundle: Buffer;
  try {
    bundle = await readAll(await read(EVIDENCE_FILES.custody), MAX_CUSTODY_BYTES);
  } catch (error) {
    if (error instanceof RefusedError) return refuse(error.message);
    if (isMissing(error)) return refuse(`custody.json is not at ${trusted.uri}`);
    throw error;
  }
  const bundleSha256 = createHash("sha256").update(bundle).digest("hex");
  input.onProgress?.(EVIDENCE_FILES.custody, bundle.length);
  if (bundleSha256 !== trusted.sha256) {
    report.mismatches.push({
      artifact: EVIDENCE_FILES.custody,
      expected: trusted.sha256,
      actual: bundleSha256,
      against: trusted.source,
    });
    report.files.push({
      name: EVIDENCE_FILES.custody,
      size: bundle.length,
      sha256: bundleSha256,
      ok: false,
    });
    return refuse("custody.json does not match its recorded hash: nothing it lists was fetched");
  }

  let custody: Custody;
  try {
    const parsed = custodySchema.safeParse(JSON.parse(bundle.toString("utf8")));
    if (!parsed.success)
      return refuse(
        `custody.json breaks its schema: ${describeProblems(listProblems(parsed.error))}`,
      );
    custody = parsed.data;
  } catch {
    return refuse("custody.json is not JSON");
  }
  const seen = new Set<string>();
  for (const artifact of custody.artifacts) {
    const problem =
      misplacement(artifact, folder) ??
      (seen.has(artifact.name)
        ? `artifact ${JSON.stringify(artifact.name)} is listed twice`
        : null);
    if (problem) return refuse(`${problem}: nothing it lists was fetched`);
    seen.add(artifact.name);
  }
  const crashLog = custody.artifacts.find((a) => a.name === EVIDENCE_FILES.crashLog);
  if (trusted.logSha256 && !crashLog) {
    report.mismatches.push({
      artifact: EVIDENCE_FILES.crashLog,
      expected: trusted.logSha256,
      actual: "absent from custody.json",
      against: trusted.logSource ?? trusted.source,
    });
    return refuse("custody.json lists no crash.log, but one was recorded");
  }

  await mkdir(input.out, { recursive: true });
  const root = await realpath(input.out);
  try {
    const custodyFile = await createWriteInside(root, EVIDENCE_FILES.custody);
    await pipeline(Readable.from([bundle]), custodyFile);
    report.files.push({
      name: EVIDENCE_FILES.custody,
      size: bundle.length,
      sha256: bundleSha256,
      ok: true,
    });

    for (const [index, artifact] of custody.artifacts.entries()) {
      const counter = hashingCounter(artifact.size, (n) => input.onProgress?.(artifact.name, n));
      let overflow: string | null = null;
      let source: Readable;
      try {
        source = await read(artifact.name);
      } catch (error) {
        if (!isMissing(error)) throw error;
        report.mismatches.push({
          artifact: artifact.name,
          expected: artifact.sha256,
          actual: "missing from the store",
          against: "custody.json",
        });
        report.skipped = custody.artifacts.length - index - 1;
        return report;
      }
      try {
        await pipeline(source, counter.transform, await createWriteInside(root, artifact.name));
      } catch (error) {
        source.destroy();
        if (!(error instanceof RefusedError) || !error.message.startsWith("longer")) throw error;
        overflow = error.message;
      }
      const got = counter.result();
      const againstLog =
        artifact.name === EVIDENCE_FILES.crashLog && trusted.logSha256
          ? trusted.logSha256
          : undefined;
      const matches =
        overflow === null && got.sha256 === artifact.sha256 && got.size === artifact.size;
      const ok = matches && (againstLog === undefined || againstLog === got.sha256);
      if (!matches)
        report.mismatches.push({
          artifact: artifact.name,
          expected: artifact.sha256,
          actual: overflow ? `${got.sha256} (${overflow})` : got.sha256,
          against: "custody.json",
        });
      if (againstLog !== undefined && againstLog !== got.sha256)
        report.mismatches.push({
          artifact: artifact.name,
          expected: againstLog,
          actual: got.sha256,
          against: trusted.logSource ?? trusted.source,
        });
      report.files.push({ name: artifact.name, ...got, ok });
      if (!ok) {
        report.skipped = custody.artifacts.length - index - 1;
        return report;
      }
    }
  } catch (error) {
    if (error instanceof RefusedError) return refuse(error.message);
    throw error;
  }
  return report;
}
