import type { Readable } from "node:stream";

export type LogTail = {
  /** The newest bytes, at most maxBytes, in order. */
  chunks: Buffer[];
  keptBytes: number;
  /** Bytes read from the source in all. */
  totalBytes: number;
  /** The oldest bytes left out: totalBytes − keptBytes. */
  droppedBytes: number;
};

/**
 * Reads a log to its end and keeps only its last maxBytes bytes: the end of a crashed
 * container's log (the stack trace) is what matters. Memory stays under maxBytes plus one chunk,
 * whatever the source's length: older chunks are let go as newer ones arrive.
 */
export async function readLogTail(
  source: Readable | AsyncIterable<Buffer | Uint8Array | string>,
  maxBytes: number,
): Promise<LogTail> {
  const chunks: Buffer[] = [];
  let held = 0;
  let totalBytes = 0;
  for await (const piece of source) {
    const chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as Uint8Array | string);
    if (chunk.length === 0) continue;
    chunks.push(chunk);
    held += chunk.length;
    totalBytes += chunk.length;
    while (chunks.length > 1 && held - chunks[0]!.length >= maxBytes) {
      held -= chunks.shift()!.length;
    }
  }
  if (held > maxBytes) {
    chunks[0] = chunks[0]!.subarray(held - maxBytes);
    held = maxBytes;
  }
  return { chunks, keptBytes: held, totalBytes, droppedBytes: totalBytes - held };
}
