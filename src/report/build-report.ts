import type { Diagnosis } from "../diagnosis/diagnose.ts";
import type { EventRecord, Finding, LogTail } from "../diagnosis/finding.ts";
import { maskSecrets } from "../diagnosis/mask-secrets.ts";
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

/** `<container> in <namespace>/<pod>: <top finding>`, one line, bounded. */
export function headlineOf(event: PodEvent, top: Finding): string {
  const line = `${event.container} in ${event.namespace}/${event.pod}: ${top.summary}`;
  return line.length > MAX_HEADLINE_CHARS ? `${line.slice(0, MAX_HEADLINE_CHARS - 1)}…` : line;
}

export function buildReport(input: ReportInput): Report {
  const { event, diagnosis, log } = input;
  const tail = log ? log.lines.slice(-MAX_LOG_TAIL_LINES) : [];
  const firstTailLine = log ? log.firstLine + log.lines.length - tail.length : 0;
  return {
    schema: REPORT_SCHEMA_VERSION,
    captureId: input.captureId,
    generatedAt: input.generatedAt,
    headline: headlineOf(event, diagnosis.top),
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
      restartCount: event.restartCount,
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
