import type { WorkflowsConfig } from "../config/workflows-config.ts";
import { createDirStore } from "./dir-store.ts";
import type { EvidenceStore } from "./evidence-store.ts";
import { createS3Client, createS3Store, MIN_PART_SIZE_BYTES } from "./s3-store.ts";

/** The evidence store a process is configured for: S3 when a bucket is set, else a folder. */
export function createEvidenceStore(
  settings: WorkflowsConfig["evidence"],
  options: { lowMemory?: boolean } = {},
): EvidenceStore {
  if (settings.kind === "dir") return createDirStore(settings.dir);
  const client = createS3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
  });
  return createS3Store({
    client,
    bucket: settings.bucket,
    prefix: "",
    ...(options.lowMemory ? { partSizeBytes: MIN_PART_SIZE_BYTES, partsInFlight: 1 } : {}),
    ...(settings.kmsKeyId ? { sse: { kmsKeyId: settings.kmsKeyId } } : {}),
  });
}
