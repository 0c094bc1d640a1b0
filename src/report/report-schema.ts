import { z } from "zod";

import { captureTriggerSchema } from "../model/capture-request.ts";

export const REPORT_SCHEMA_VERSION = "podmortem.report/v1";
/** The report's own files in the evidence folder (listed and hashed by custody.json). */
export const REPORT_FILES = { json: "report.json", markdown: "report.md" } as const;
export const MAX_LOG_TAIL_LINES = 50;
export const MAX_TIMELINE_ENTRIES = 100;

const evidenceSchema = z.strictObject({
  artifact: z.string(),
  field: z.string().optional(),
  lines: z.tuple([z.int(), z.int()]).optional(),
  quote: z.string().optional(),
});

export const reportFindingSchema = z.strictObject({
  code: z.string(),
  kind: z.enum(["cause", "context"]),
  severity: z.enum(["critical", "error", "warning", "info"]),
  summary: z.string(),
  evidence: z.array(evidenceSchema),
  nextStep: z.string(),
});
export type ReportFinding = z.infer<typeof reportFindingSchema>;

export const timelineEntrySchema = z.strictObject({
  at: z.string().nullable(),
  source: z.enum(["status", "event"]),
  what: z.string(),
});
export type TimelineEntry = z.infer<typeof timelineEntrySchema>;

export const changeSummarySchema = z.strictObject({
  summary: z.string(),
  details: z.array(z.string()),
});

export const reportSchema = z.strictObject({
  schema: z.literal(REPORT_SCHEMA_VERSION),
  captureId: z.string(),
  generatedAt: z.string(),
  headline: z.string(),
  /** Why the capture ran: a crash, or an on-demand request and who made it (absent before 0.3). */
  trigger: captureTriggerSchema.optional(),
  subject: z.strictObject({
    cluster: z.string(),
    namespace: z.string(),
    pod: z.string(),
    podUID: z.string(),
    container: z.string(),
    containerType: z.string(),
    workload: z.strictObject({ kind: z.string(), name: z.string() }),
    node: z.string().nullable(),
    image: z.string(),
  }),
  crash: z.strictObject({
    reason: z.string(),
    exitCode: z.int().nullable(),
    signal: z.int().nullable(),
    /** The API server's count (pod.json) when the pod was read, else the event's. */
    restartCount: z.int(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  }),
  top: reportFindingSchema,
  findings: z.array(reportFindingSchema),
  /** What changed in the owner's template before the crash; null when not captured. */
  changes: changeSummarySchema.nullable(),
  timeline: z.array(timelineEntrySchema).max(MAX_TIMELINE_ENTRIES),
  logTail: z.strictObject({
    /** Secret-looking values are masked; `n` is the line number in crash.log. */
    lines: z.array(z.strictObject({ n: z.int(), text: z.string() })).max(MAX_LOG_TAIL_LINES),
    totalLines: z.int(),
    available: z.boolean(),
  }),
  artifacts: z.array(
    z.strictObject({
      name: z.string(),
      uri: z.string(),
      sha256: z.string().nullable(),
      size: z.int().nullable(),
    }),
  ),
  diagnosis: z.strictObject({ rulesFailed: z.array(z.string()) }),
});
export type Report = z.infer<typeof reportSchema>;
