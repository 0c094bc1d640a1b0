import { z } from "zod";

export const CUSTODY_SCHEMA_VERSION = "podmortem.custody/v1";

export const custodyArtifactSchema = z.strictObject({
  name: z.string(),
  key: z.string(),
  uri: z.string(),
  size: z.int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  truncated: z.boolean(),
  capturedAt: z.string(),
  /** A log over its limit keeps its newest bytes: how many of the oldest were dropped. */
  droppedBytes: z.int().min(0).optional(),
  /** Which end of a cut log is kept ("tail": the newest bytes, where the crash is). */
  kept: z.literal("tail").optional(),
});
export type CustodyArtifact = z.infer<typeof custodyArtifactSchema>;

export const custodySchema = z.strictObject({
  schema: z.literal(CUSTODY_SCHEMA_VERSION),
  captureId: z.string(),
  cluster: z.string(),
  signature: z.string(),
  occurrenceId: z.string(),
  source: z.strictObject({
    namespace: z.string(),
    pod: z.string(),
    podUID: z.string(),
    container: z.string(),
    node: z.string().nullable(),
  }),
  capturedBy: z.strictObject({ tool: z.string(), version: z.string(), identity: z.string() }),
  capturedAt: z.string(),
  sealedAt: z.string(),
  artifacts: z.array(custodyArtifactSchema),
});
export type Custody = z.infer<typeof custodySchema>;
