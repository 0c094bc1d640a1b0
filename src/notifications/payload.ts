import type { NotificationEvent } from "../model/remote-config.ts";
import type { PodEvent } from "../model/pod-event.ts";

export type NotificationPayload = {
  event: NotificationEvent;
  cluster: string;
  namespace: string;
  pod: string;
  workload: { kind: string; name: string };
  container: string;
  reason: string;
  exitCode: number | null;
  signature: string;
  occurrences: number | null;
  captureId: string | null;
  outcome: string | null;
  evidenceUri: string | null;
  /** The evidence folder's key in the store: where the delivery step reads the report. */
  evidenceFolder: string | null;
  forensicPod: string | null;
  /** The postmortem's one-line answer and its top finding's code (captured events only). */
  headline: string | null;
  topFinding: string | null;
  at: string;
};

export function buildPayload(
  event: NotificationEvent,
  source: PodEvent,
  extra: Partial<
    Pick<
      NotificationPayload,
      | "occurrences"
      | "captureId"
      | "outcome"
      | "evidenceUri"
      | "evidenceFolder"
      | "forensicPod"
      | "headline"
      | "topFinding"
    >
  >,
  at: string,
): NotificationPayload {
  return {
    event,
    cluster: source.cluster,
    namespace: source.namespace,
    pod: source.pod,
    workload: source.workload,
    container: source.container,
    reason: source.reason,
    exitCode: source.exitCode,
    signature: source.signature,
    occurrences: extra.occurrences ?? null,
    captureId: extra.captureId ?? null,
    outcome: extra.outcome ?? null,
    evidenceUri: extra.evidenceUri ?? null,
    evidenceFolder: extra.evidenceFolder ?? null,
    forensicPod: extra.forensicPod ?? null,
    headline: extra.headline ?? null,
    topFinding: extra.topFinding ?? null,
    at,
  };
}
