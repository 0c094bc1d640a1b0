import type { S3Client } from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";

import { createFolderReader, evidenceFolderOf } from "../src/evidence/export.ts";
import { createS3Client } from "../src/evidence/s3-store.ts";
import { PodmortemError } from "../src/errors.ts";

/** Reports and custody documents are small; anything larger is not what we asked for. */
const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

export class HashMismatch extends Error {
  readonly uri: string;

  constructor(uri: string, expected: string, actual: string) {
    super(`${uri}: sha256 ${actual}, but custody says ${expected}`);
    this.uri = uri;
  }
}

let client: S3Client | undefined;
const s3 = () =>
  (client ??= createS3Client({
    endpoint: process.env.PODMORTEM_S3_ENDPOINT,
    region: process.env.PODMORTEM_S3_REGION,
    forcePathStyle: process.env.PODMORTEM_S3_FORCE_PATH_STYLE === "true",
  }));

/**
 * The file `name` of the evidence folder that holds `custodyUri` (never anything outside it),
 * whole, checked against the hash custody recorded for it.
 */
export async function readEvidenceDocument(
  custodyUri: string,
  name: string,
  expectedSha256: string | undefined,
): Promise<Buffer> {
  const folder = evidenceFolderOf(custodyUri);
  if (typeof folder === "string")
    throw new PodmortemError("INPUT_INVALID", `${folder}: ${custodyUri}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of await createFolderReader(folder, s3)(name)) {
    const bytes = Buffer.from(chunk as Buffer);
    size += bytes.length;
    if (size > MAX_DOCUMENT_BYTES)
      throw new PodmortemError(
        "INPUT_INVALID",
        `${name} is larger than ${MAX_DOCUMENT_BYTES} bytes`,
      );
    chunks.push(bytes);
  }
  const body = Buffer.concat(chunks);
  const actual = createHash("sha256").update(body).digest("hex");
  if (expectedSha256 && actual !== expectedSha256)
    throw new HashMismatch(`${folder.folderUri}${name}`, expectedSha256, actual);
  return body;
}
