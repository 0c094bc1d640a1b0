import { z } from "zod";

import { captureTriggerSchema } from "../model/capture-request.ts";

export const CUSTODY_SCHEMA_VERSION = "podmortem.custody/v1";
/** A custody.json for thousands of artifacts is a few MiB; export reads no more than this. */
export const MAX_CUSTODY_BYTES = 16 * 1024 * 1024;

const hasControlCharacter = (value: string) =>
  [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/**
 * A path that stays where it is put: relative, `/`-separated, no empty, `.` or `..` segment, no
 * backslash (a separator on Windows), no control character. What export writes under `--out`.
 */
export function isSafeRelativePath(value: string): boolean {
  if (value === "" || value.startsWith("/") || value.includes("\\")) return false;
  if (hasControlCharacter(value)) return false;
  return value.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

const safePath = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine(
      isSafeRelativePath,
      "must be a relative path without empty, . or .. segments, backslashes or control characters",
    );

const text = (max: number) => z.string().max(max);

export const custodyArtifactSchema = z.strictObject({
  name: safePath(255),
  key: safePath(1024),
  uri: z
    .string()
    .max(2048)
    .regex(/^(s3|file):\/\//, "must be an s3:// or file:// URI"),
  size: z.int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  truncated: z.boolean(),
  capturedAt: text(64),
  /** A log over its limit keeps its newest bytes: how many of the oldest were dropped. */
  droppedBytes: z.int().min(0).optional(),
  /** Which end of a cut log is kept ("tail": the newest bytes, where the crash is). */
  kept: z.literal("tail").optional(),
});
export type CustodyArtifact = z.infer<typeof custodyArtifactSchema>;

export const custodySchema = z.strictObject({
  schema: z.literal(CUSTODY_SCHEMA_VERSION),
  captureId: text(253),
  cluster: text(253),
  signature: text(128),
  occurrenceId: text(128),
  source: z.strictObject({
    namespace: text(253),
    pod: text(253),
    podUID: text(128),
    container: text(253),
    node: text(253).nullable(),
  }),
  capturedBy: z.strictObject({ tool: text(128), version: text(128), identity: text(512) }),
  /** Why the capture ran: a crash, or an on-demand request and who made it (absent before 0.3). */
  trigger: captureTriggerSchema.optional(),
  capturedAt: text(64),
  sealedAt: text(64),
  artifacts: z.array(custodyArtifactSchema).max(10_000),
});
export type Custody = z.infer<typeof custodySchema>;
