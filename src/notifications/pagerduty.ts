import type { ReportFinding } from "../report/report-schema.ts";
import { capText, fitLogTail, jsonBytes } from "./fit.ts";
import { exitText, summaryLine } from "./message-facts.ts";
import type { NotificationPayload } from "./payload.ts";
import { primaryLink, type PostmortemDigest } from "./postmortem-digest.ts";

/** Events API v2: `payload.summary` is cut by PagerDuty past 1024 characters. */
export const MAX_SUMMARY_CHARS = 1024;
/** podmortem's own cap on custom_details (PagerDuty takes 512 KB for the whole event). */
export const MAX_CUSTOM_DETAILS_BYTES = 16 * 1024;

export const PAGERDUTY_SEVERITIES = ["critical", "error", "warning", "info"] as const;
type PagerDutySeverity = (typeof PAGERDUTY_SEVERITIES)[number];

/** The top finding's severity is already on PagerDuty's scale; without one, a failure is an error. */
function severityOf(payload: NotificationPayload, digest: PostmortemDigest): PagerDutySeverity {
  const severity: ReportFinding["severity"] | undefined = digest.top?.severity;
  if (severity) return severity;
  return payload.event === "detected" ? "warning" : "error";
}

/**
 * A trigger event. `dedup_key` is the incident signature: every page for the same failure of the
 * same workload and container groups into one PagerDuty incident.
 */
export function toPagerDutyEvent(
  payload: NotificationPayload,
  digest: PostmortemDigest,
  routingKey: string,
) {
  const link = primaryLink(digest);
  const details = (logTail: string[]) => ({
    headline: digest.headline,
    top_finding: digest.top,
    what_changed: digest.whatChanged,
    log_tail: logTail,
    reason: exitText(payload),
    occurrences: payload.occurrences,
    capture_id: payload.captureId,
    outcome: payload.outcome,
    evidence: payload.evidenceUri,
    forensic_pod: payload.forensicPod,
    signature: payload.signature,
    console: digest.links.console,
  });
  const logTail = fitLogTail(
    digest.logTail.lines,
    (kept) => jsonBytes(details(kept)) <= MAX_CUSTOM_DETAILS_BYTES,
  );
  return {
    routing_key: routingKey,
    event_action: "trigger",
    dedup_key: payload.signature,
    client: "podmortem",
    ...(link ? { client_url: link } : {}),
    payload: {
      summary: capText(summaryLine(payload, digest.headline), MAX_SUMMARY_CHARS),
      source: `${payload.cluster}/${payload.namespace}/${payload.pod}`,
      severity: severityOf(payload, digest),
      timestamp: payload.at,
      component: `${payload.workload.kind}/${payload.workload.name}:${payload.container}`,
      group: `${payload.cluster}/${payload.namespace}`,
      class: digest.top?.code ?? payload.topFinding ?? payload.reason,
      custom_details: details(logTail),
    },
    links: [
      ...(digest.links.report
        ? [{ href: digest.links.report, text: "report.md (presigned)" }]
        : []),
      ...(digest.links.console ? [{ href: digest.links.console, text: "podmortem console" }] : []),
    ],
  };
}

/**
 * PagerDuty's 400 answer names what it refused (`{"message": …, "errors": [ … ]}`); its text is
 * kept short and never echoes the routing key.
 */
export function describePagerDutyRefusal(body: string, routingKey: string): string | undefined {
  try {
    const answer = JSON.parse(body) as { message?: unknown; errors?: unknown };
    const parts = [
      typeof answer.message === "string" ? answer.message : undefined,
      ...(Array.isArray(answer.errors)
        ? answer.errors.filter((e): e is string => typeof e === "string")
        : []),
    ].filter((part): part is string => part !== undefined);
    if (parts.length === 0) return undefined;
    return capText(parts.join("; ").replaceAll(routingKey, "[routing key]"), 300);
  } catch {
    return undefined;
  }
}
