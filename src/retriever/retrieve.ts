import { rm, stat, writeFile } from "node:fs/promises";

import type { ArchiveStore, StoredArchive } from "./retriever-store.ts";

export type RetrieveRequest = {
  file: string;
  key: string;
  maxBytes: number;
  /** Remove the archive from the node once stored, and when refused. */
  deleteAfter: boolean;
  /** Remove it when the upload fails too: the last retriever's, so no memory image stays behind. */
  deleteOnFailure?: boolean;
};

export type RetrieveResult =
  | { outcome: "stored"; key: string; uri: string; size: number; sha256: string; deleted: boolean }
  | { outcome: "refused"; reason: string; size: number; deleted: boolean };

/**
 * Streams a checkpoint archive from the node into the evidence store, hashing on the way; memory
 * stays flat whatever the archive's size. An archive over the limit is refused, not cut, and
 * removed from the node when removal is asked for: it holds the container's memory, secrets
 * included, and nobody will fetch it.
 */
export async function retrieveArchive(
  store: ArchiveStore,
  request: RetrieveRequest,
): Promise<RetrieveResult> {
  const { size } = await stat(request.file);
  if (size > request.maxBytes) {
    if (request.deleteAfter) await rm(request.file, { force: true });
    return {
      outcome: "refused",
      reason: `archive of ${size} bytes is over maxCheckpointBytes (${request.maxBytes})`,
      size,
      deleted: request.deleteAfter,
    };
  }
  let stored: StoredArchive;
  try {
    stored = await store.putFile(request.key, request.file);
    if (stored.size !== size)
      throw new Error(
        `read ${stored.size} of ${size} bytes: the archive changed while it was read`,
      );
  } catch (error) {
    if (request.deleteOnFailure) await rm(request.file, { force: true });
    throw error;
  }
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

/**
 * Reads a retriever's termination message; undefined when it is not a result (a crash's log tail,
 * which the pod's `FallbackToLogsOnError` policy puts there instead).
 */
export function parseRetrieveResult(message: string): RetrieveResult | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const result = value as Record<string, unknown>;
  if (
    result.outcome === "stored" &&
    typeof result.key === "string" &&
    typeof result.uri === "string" &&
    typeof result.size === "number" &&
    typeof result.sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(result.sha256)
  ) {
    return {
      outcome: "stored",
      key: result.key,
      uri: result.uri,
      size: result.size,
      sha256: result.sha256,
      deleted: result.deleted === true,
    };
  }
  if (
    result.outcome === "refused" &&
    typeof result.reason === "string" &&
    typeof result.size === "number"
  ) {
    return {
      outcome: "refused",
      reason: result.reason,
      size: result.size,
      deleted: result.deleted === true,
    };
  }
  return undefined;
}

/** The kubelet reports a container's termination message from this file (at most 4 KiB). */
export async function writeTerminationMessage(path: string, result: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(result).slice(0, 4096));
}
