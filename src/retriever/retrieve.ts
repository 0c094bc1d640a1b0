import { createReadStream } from "node:fs";
import { rm, stat, writeFile } from "node:fs/promises";

import type { EvidenceStore } from "../evidence/evidence-store.ts";

export type RetrieveRequest = { file: string; key: string; maxBytes: number; deleteAfter: boolean };

export type RetrieveResult =
  | { outcome: "stored"; key: string; uri: string; size: number; sha256: string; deleted: boolean }
  | { outcome: "refused"; reason: string; size: number };

/**
 * Streams a checkpoint archive from the node into the evidence store, hashing on the way; memory
 * stays flat whatever the archive's size. An archive over the limit is refused, not cut.
 */
export async function retrieveArchive(
  store: EvidenceStore,
  request: RetrieveRequest,
): Promise<RetrieveResult> {
  const { size } = await stat(request.file);
  if (size > request.maxBytes) {
    return {
      outcome: "refused",
      reason: `archive of ${size} bytes is over maxCheckpointBytes (${request.maxBytes})`,
      size,
    };
  }
  const stored = await store.put(
    request.key,
    createReadStream(request.file, { highWaterMark: 256 * 1024 }),
    {
      contentType: "application/x-tar",
    },
  );
  if (stored.size !== size)
    throw new Error(`read ${stored.size} of ${size} bytes: the archive changed while it was read`);
  if (request.deleteAfter) await rm(request.file, { force: true });
  return {
    outcome: "stored",
    key: stored.key,
    uri: stored.uri,
    size: stored.size,
    sha256: stored.sha256,
    deleted: request.deleteAfter,
  };
}

/** The kubelet reports a container's termination message from this file (at most 4 KiB). */
export async function writeTerminationMessage(path: string, result: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(result).slice(0, 4096));
}
