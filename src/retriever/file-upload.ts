import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";

export type FileUploadSettings = {
  /** For the upload's own calls (create, complete, a single PUT): the SDK retries these. */
  client: S3Client;
  /** For parts: a client without SDK retries (maxAttempts 1); parts are retried here. */
  partClient: S3Client;
  /** Tries per part (see sendPart). */
  partAttempts: number;
  bucket: string;
  key: string;
  file: string;
  partSizeBytes: number;
  partsInFlight: number;
  contentType: string;
  sse?: { kmsKeyId?: string | undefined } | undefined;
};

export type UploadedFile = { size: number; sha256: string };

/** Fills the buffer from the file's current position; fewer bytes only at the end of the file. */
async function readPart(handle: FileHandle, buffer: Buffer): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

function throwIfFailed(outcome: { failure?: Error }): void {
  if (outcome.failure) throw outcome.failure;
}

/** The piece size a part is handed to the socket in (see sendPart). */
const WRITE_CHUNK_BYTES = 64 * 1024;

function retryable(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata
    ?.httpStatusCode;
  return status === undefined || status >= 500 || status === 429 || status === 408;
}

/**
 * A part goes out as a stream of 64 KiB views of its buffer, not as one 5 MiB write: over TLS a
 * single write is encrypted whole into a native buffer before the socket drains it, a second
 * copy of every part in flight. A stream cannot be sent twice, so the SDK does not retry a
 * part; this does, with a fresh stream over the same bytes each time, backing off as the SDK's
 * standard mode does (100 ms doubling, at most 20 s a try).
 */
async function sendPart(
  settings: FileUploadSettings,
  input: { UploadId: string; PartNumber: number; body: Buffer },
): Promise<string> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const answer = await settings.partClient.send(
        new UploadPartCommand({
          Bucket: settings.bucket,
          Key: settings.key,
          UploadId: input.UploadId,
          PartNumber: input.PartNumber,
          ContentLength: input.body.length,
          Body: Readable.from(
            (function* () {
              for (let at = 0; at < input.body.length; at += WRITE_CHUNK_BYTES)
                yield input.body.subarray(at, at + WRITE_CHUNK_BYTES);
            })(),
            { objectMode: false },
          ),
        }),
      );
      return answer.ETag!;
    } catch (error) {
      if (attempt >= settings.partAttempts || !retryable(error)) throw error;
      await sleep(Math.random() * Math.min(20_000, 100 * 2 ** attempt));
    }
  }
}

/**
 * Uploads a file in parts read straight into a fixed set of buffers (partsInFlight of
 * partSizeBytes each, allocated once and reused), hashing in file order on the way. A stream
 * and lib-storage's Upload would gather each part from chunks and concatenate it, holding
 * every part two or three times over; here memory is exactly the buffers, whatever the size.
 * A file that fits in one part is one PUT; a failed multipart upload is aborted.
 */
export async function uploadFile(settings: FileUploadSettings): Promise<UploadedFile> {
  const { client, bucket, key } = settings;
  const encryption = settings.sse
    ? {
        ServerSideEncryption: "aws:kms" as const,
        ...(settings.sse.kmsKeyId ? { SSEKMSKeyId: settings.sse.kmsKeyId } : {}),
      }
    : {};
  const hash = createHash("sha256");
  const handle = await open(settings.file, "r");
  try {
    const free: Buffer[] = Array.from({ length: settings.partsInFlight }, () =>
      Buffer.allocUnsafeSlow(settings.partSizeBytes),
    );
    const first = free.pop()!;
    const firstLength = await readPart(handle, first);
    hash.update(first.subarray(0, firstLength));
    if (firstLength < first.length) {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: first.subarray(0, firstLength),
          ContentLength: firstLength,
          ContentType: settings.contentType,
          ...encryption,
        }),
      );
      return { size: firstLength, sha256: hash.digest("hex") };
    }
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        ContentType: settings.contentType,
        ...encryption,
      }),
    );
    const etags: string[] = [];
    const inFlight = new Set<Promise<void>>();
    // The first part that failed for good; read through an object, as callbacks set it.
    const outcome: { failure?: Error } = {};
    const send = (buffer: Buffer, length: number, partNumber: number) => {
      const sending = sendPart(settings, {
        UploadId: UploadId!,
        PartNumber: partNumber,
        body: buffer.subarray(0, length),
      })
        .then(
          (etag) => void (etags[partNumber - 1] = etag),
          (error: unknown) =>
            void (outcome.failure ??= error instanceof Error ? error : new Error(String(error))),
        )
        .finally(() => {
          inFlight.delete(sending);
          free.push(buffer);
        });
      inFlight.add(sending);
    };
    try {
      let size = firstLength;
      let partNumber = 1;
      send(first, firstLength, partNumber);
      for (;;) {
        while (free.length === 0) await Promise.race(inFlight);
        throwIfFailed(outcome);
        const buffer = free.pop()!;
        const length = await readPart(handle, buffer);
        if (length === 0) {
          free.push(buffer);
          break;
        }
        hash.update(buffer.subarray(0, length));
        size += length;
        partNumber += 1;
        send(buffer, length, partNumber);
        if (length < buffer.length) break;
      }
      await Promise.all(inFlight);
      throwIfFailed(outcome);
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
      return { size, sha256: hash.digest("hex") };
    } catch (error) {
      await Promise.allSettled(inFlight);
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }))
        .catch(() => undefined);
      throw error;
    }
  } finally {
    await handle.close();
  }
}
