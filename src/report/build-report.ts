import type { Diagnosis } from "../diagnosis/diagnose.ts";
import type { EventRecord, Finding, LogTail } from "../diagnosis/finding.ts";
import { maskSecrets } from "../diagnosis/mask-secrets.ts";
import type { CaptureTrigger } from "../model/capture-request.ts";
import type { PodEvent } from "../model/pod-event.ts";
import {
  MAX_LOG_TAIL_LINES,
  REPORT_SCHEMA_VERSION,
  type Report,
  type ReportFinding,
} from "./report-schema.ts";
import { buildTimeline } from "./timeline.ts";

const MAX_HEADLINE_CHARS = 300;

export type ReportInput = {
  captureId: string;
  generatedAt: string;
  event: PodEvent;
  diagnosis: Diagnosis;
  pod: unknown;
  events: EventRecord[];
  log: LogTail | undefined;
  changes: Report["changes"];
  artifacts: Report["artifacts"];
  trigger?: CaptureTrigger | undefined;
};

function toReportFinding(finding: Finding): ReportFinding {
  return {
    code: finding.code,
    kind: finding.kind,
    severity: finding.severity,
    summary: finding.summary,
    evidence: finding.evidence,
    nextStep: finding.nextStep,
  };
}

/**
 * `<container> in <namespace>/<pod>: <top finding>`, one line, bounded. An on-demand capture of a
 * live pod claims no crash: it says who asked, and a finding only when a rule named one.
 */
export function headlineOf(event: PodEvent, top: Finding, trigger?: CaptureTrigger): string {
  const line =
    trigger?.kind === "on-demand"
      ? `On-demand capture of ${event.namespace}/${event.pod}, requested by ${trigger.requestedBy}${top.code === "unknown" ? "" : `: ${top.summary}`}`
      : `${event.container} in ${event.namespace}/${event.pod}: ${top.summary}`;
  return line.length > MAX_HEADLINE_CHARS ? `${line.slice(0, MAX_HEADLINE_CHARS - 1)}…` : line;
}

type StatusLike = { name?: unknown; restartCount?: unknown };

/**
 * The container's restart count as the API server showed it in pod.json. The event's is that of
 * the instance that ended (0 for a first crash), which undercounts by the restart that followed.
 */
export function confirmedRestartCount(
  pod: unknown,
  container: string,
  type: PodEvent["containerType"],
): number | undefined {
  const status = (pod as { status?: Record<string, unknown> } | undefined)?.status;
  const key =
    type === "init"
      ? "initContainerStatuses"
      : type === "ephemeral"
        ? "ephemeralContainerStatuses"
        : "containerStatuses";
  const list = status?.[key];
  if (!Array.isArray(list)) return undefined;
  const found = (list as StatusLike[]).find((s) => s.name === container);
  return typeof found?.restartCount === "number" && Number.isInteger(found.restartCount)
    ? found.restartCount
    : undefined;
}

export function buildReport(input: ReportInput): Report {
  const { event, diagnosis, log } = input;
  const tail = log ? log.lines.slice(-MAX_LOG_TAIL_LINES) : [];
  const firstTailLine = log ? log.firstLine + log.lines.length - tail.length : 0;
  return {
    schema: REPORT_SCHEMA_VERSION,
    captureId: input.captureId,
    generatedAt: input.generatedAt,
    headline: headlineOf(event, diagnosis.top, input.trigger),
    ...(input.trigger ? { trigger: input.trigger } : {}),
    subject: {
      cluster: event.cluster,
      namespace: event.namespace,
      pod: event.pod,
      podUID: event.podUID,
      container: event.container,
      containerType: event.containerType,
      workload: event.workload,
      node: event.node,
      image: event.image,
    },
    crash: {
      reason: event.reason,
      exitCode: event.exitCode,
      signal: event.signal,
      restartCount:
        confirmedRestartCount(input.pod, event.container, event.containerType) ??
        event.restartCount,
      startedAt: event.startedAt,
      finishedAt: event.finishedAt,
    },
    top: toReportFinding(diagnosis.top),
    findings: diagnosis.findings.map(toReportFinding),
    changes: input.changes,
    timeline: buildTimeline({ pod: input.pod, events: input.events, container: event.container }),
    logTail: {
      lines: tail.map((text, index) => ({ n: firstTailLine + index, text: maskSecrets(text) })),
      totalLines: log ? log.firstLine + log.lines.length - 1 : 0,
      available: log !== undefined,
    },
    artifacts: input.artifacts,
    diagnosis: { rulesFailed: diagnosis.failedRules },
  };
}
