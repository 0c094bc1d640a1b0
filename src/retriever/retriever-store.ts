import { S3Client } from "@aws-sdk/client-s3";

import type { WorkflowsConfig } from "../config/workflows-config.ts";
import { createDirStore } from "../evidence/dir-store.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import { createS3Store, MIN_PART_SIZE_BYTES } from "../evidence/s3-store.ts";

/**
 * The retriever runs outside any durable step, so its S3 client retries by itself: throttling
 * (503 SlowDown) and 5xx answers back off up to 20 s a try, about a minute and a half in all.
 * Each part is a buffer of its own, so a retried part is sent again whole.
 */
export const RETRIEVER_S3_MAX_ATTEMPTS = 10;

/** The smallest parts S3 takes, one in flight: memory stays flat whatever the archive's size. */
export function createRetrieverStore(settings: WorkflowsConfig["evidence"]): EvidenceStore {
  if (settings.kind === "dir") return createDirStore(settings.dir);
  const client = new S3Client({
    // Without a configured region, the SDK's own chain: AWS_REGION, then ~/.aws/config.
    ...(settings.region ? { region: settings.region } : {}),
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: RETRIEVER_S3_MAX_ATTEMPTS,
    retryMode: "standard",
  });
  return createS3Store({
    client,
    bucket: settings.bucket,
    prefix: "",
    partSizeBytes: MIN_PART_SIZE_BYTES,
    partsInFlight: 1,
    ...(settings.kmsKeyId ? { sse: { kmsKeyId: settings.kmsKeyId } } : {}),
  });
}
