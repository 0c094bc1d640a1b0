import { S3Client } from "@aws-sdk/client-s3";
import { createReadStream, readFileSync } from "node:fs";
import https from "node:https";

import type { WorkflowsConfig } from "../config/workflows-config.ts";
import { createDirStore } from "../evidence/dir-store.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import { MIN_PART_SIZE_BYTES } from "../evidence/s3-store.ts";
import { uploadFile } from "./file-upload.ts";

/**
 * The retriever runs outside any durable step, so its S3 client retries by itself: throttling
 * (503 SlowDown) and 5xx answers back off up to 20 s a try, about a minute and a half in all.
 * Each part is a buffer of its own, so a retried part is sent again whole.
 */
export const RETRIEVER_S3_MAX_ATTEMPTS = 10;
/**
 * S3's smallest parts, two in flight: 10 MiB of part buffers in all, so a part is read from the
 * disk while the one before is on the wire. 10,000 parts of 5 MiB hold archives up to 48 GiB.
 */
export const RETRIEVER_PART_SIZE_BYTES = MIN_PART_SIZE_BYTES;
export const RETRIEVER_PARTS_IN_FLIGHT = 2;

export type StoredArchive = { key: string; uri: string; size: number; sha256: string };

/** Where the retriever puts an archive: a file in, its size and SHA-256 out. */
export type ArchiveStore = {
  putFile(key: string, file: string): Promise<StoredArchive>;
  /** Closes its kept-alive connections. */
  close(): void;
};

/** Any evidence store, fed from a read stream (the local folder store). */
export function streamingArchiveStore(store: EvidenceStore): ArchiveStore {
  return {
    async putFile(key, file) {
      const stored = await store.put(key, createReadStream(file, { highWaterMark: 256 * 1024 }), {
        contentType: "application/x-tar",
      });
      return { key: stored.key, uri: stored.uri, size: stored.size, sha256: stored.sha256 };
    },
    close: () => undefined,
  };
}

export type RetrieverStoreOptions = {
  /** The CA that signed the S3 endpoint's certificate, when not a public one (PEM). */
  ca?: { pem: string } | { file: string } | undefined;
};

export function createRetrieverStore(
  settings: WorkflowsConfig["evidence"],
  options: RetrieverStoreOptions = {},
): ArchiveStore {
  if (settings.kind === "dir") return streamingArchiveStore(createDirStore(settings.dir));
  const clientSettings = {
    // Without a configured region, the SDK's own chain: AWS_REGION, then ~/.aws/config.
    ...(settings.region ? { region: settings.region } : {}),
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    requestChecksumCalculation: "WHEN_REQUIRED" as const,
    responseChecksumValidation: "WHEN_REQUIRED" as const,
    retryMode: "standard",
    // The SDK's own NodeHttpHandler, given the agent: a private CA is trusted, never skipped.
    requestHandler: {
      httpsAgent: new https.Agent({
        keepAlive: true,
        maxSockets: RETRIEVER_PARTS_IN_FLIGHT + 1,
        ...(options.ca
          ? { ca: "pem" in options.ca ? options.ca.pem : readFileSync(options.ca.file) }
          : {}),
      }),
    },
  };
  const client = new S3Client({ ...clientSettings, maxAttempts: RETRIEVER_S3_MAX_ATTEMPTS });
  // Parts are streams, which the SDK cannot send twice: uploadFile retries them itself, so the
  // SDK's console warning that a streaming request is not retried would only mislead.
  const quiet = () => undefined;
  const partClient = new S3Client({
    ...clientSettings,
    maxAttempts: 1,
    logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  });
  return {
    async putFile(key, file) {
      const uploaded = await uploadFile({
        client,
        partClient,
        partAttempts: RETRIEVER_S3_MAX_ATTEMPTS,
        bucket: settings.bucket,
        key,
        file,
        partSizeBytes: RETRIEVER_PART_SIZE_BYTES,
        partsInFlight: RETRIEVER_PARTS_IN_FLIGHT,
        contentType: "application/x-tar",
        sse: settings.kmsKeyId ? { kmsKeyId: settings.kmsKeyId } : undefined,
      });
      return { key, uri: `s3://${settings.bucket}/${key}`, ...uploaded };
    },
    close() {
      client.destroy();
      partClient.destroy();
    },
  };
}
