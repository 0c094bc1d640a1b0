import type * as restate from "@restatedev/restate-sdk";

import type { AuditRecord } from "../src/audit/chain.ts";
import type { ConfigChange } from "../src/audit/config-diff.ts";
import type { CaptureTrigger } from "../src/model/capture-request.ts";
import type { PodEvent } from "../src/model/pod-event.ts";
import { buildPayload, type NotificationPayload } from "../src/notifications/payload.ts";
import { appendToAudit } from "./audit-inbox.object.ts";
import type { NotificationsService } from "./notifications.service.ts";

/** What the backend tells the audit log and the notification sinks about. */
export type Milestone =
  | { kind: "incident.seen"; event: PodEvent; occurrences: number; captureId: string | null }
  | { kind: "capture.started"; captureId: string; event: PodEvent }
  | {
      kind: "capture.requested";
      captureId: string;
      event: PodEvent;
      trigger: Extract<CaptureTrigger, { kind: "on-demand" }>;
      granted: boolean;
      detail: string;
    }
  | {
      kind: "capture.finished";
      captureId: string;
      event: PodEvent;
      outcome: "succeeded" | "partial" | "failed" | "unconfirmed" | "refused";
      summary: unknown;
    }
  | {
      kind: "config.changed";
      cluster: string;
      version: number;
      author: string;
      comment: string;
      /** Changed paths with secret values redacted. */
      changes: ConfigChange[];
      moreChanges: number;
      /** A hash, never the document: it may hold webhook URLs. */
      configSha256: string;
    };

type ArtifactLike = { name: string; sha256: string; size: number };

function fromEvent(event: PodEvent) {
  return {
    cluster: event.cluster,
    namespace: event.namespace,
    pod: event.pod,
    signature: event.signature,
  };
}

export function toAuditRecord(milestone: Milestone): AuditRecord {
  switch (milestone.kind) {
    case "incident.seen":
      return {
        kind: milestone.kind,
        ...fromEvent(milestone.event),
        captureId: milestone.captureId,
        detail: {
          occurrenceId: milestone.event.id,
          container: milestone.event.container,
          reason: milestone.event.reason,
          exitCode: milestone.event.exitCode,
          occurrences: milestone.occurrences,
        },
      };
    case "capture.started":
      return {
        kind: milestone.kind,
        ...fromEvent(milestone.event),
        captureId: milestone.captureId,
        detail: {},
      };
    case "capture.requested":
      return {
        kind: milestone.kind,
        ...fromEvent(milestone.event),
        captureId: milestone.captureId,
        detail: {
          requestId: milestone.trigger.requestId,
          requestedBy: milestone.trigger.requestedBy,
          identitySource: milestone.trigger.identitySource,
          requestedAt: milestone.trigger.requestedAt,
          container: milestone.event.container,
          granted: milestone.granted,
          reason: milestone.detail,
        },
      };
    case "capture.finished": {
      const summary = milestone.summary as {
        evidence?: { custodyUri: string; custodySha256: string; artifacts: ArtifactLike[] } | null;
        steps?: Array<{ name: string; outcome: string; detail?: string }>;
        claim?: { kind: string; detail: string } | null;
        limited?: string | null;
      };
      const restart = summary.steps?.find((step) => step.name === "restart pod");
      return {
        kind: milestone.kind,
        ...fromEvent(milestone.event),
        captureId: milestone.captureId,
        detail: {
          outcome: milestone.outcome,
          custody: summary.evidence
            ? { uri: summary.evidence.custodyUri, sha256: summary.evidence.custodySha256 }
            : null,
          artifacts: (summary.evidence?.artifacts ?? []).map(({ name, sha256, size }) => ({
            name,
            sha256,
            size,
          })),
          failedSteps: (summary.steps ?? [])
            .filter((step) => step.outcome === "failed")
            .map((step) => step.name),
          // A restart withheld for want of sealed evidence is a decision a reviewer must see.
          ...(restart ? { restart: { outcome: restart.outcome, detail: restart.detail } } : {}),
          claim: summary.claim ?? null,
          limited: summary.limited ?? null,
        },
      };
    }
    case "config.changed":
      return {
        kind: milestone.kind,
        cluster: milestone.cluster,
        namespace: null,
        pod: null,
        signature: null,
        captureId: null,
        detail: {
          version: milestone.version,
          author: milestone.author,
          comment: milestone.comment,
          changes: milestone.changes,
          moreChanges: milestone.moreChanges,
          configSha256: milestone.configSha256,
        },
      };
  }
}

/**
 * Announces a milestone from inside a handler. Only one-way sends happen here, so a slow audit
 * log or a notification sink that is down never delays the capture steps.
 */
export function announce(ctx: restate.Context, milestone: Milestone): void {
  appendToAudit(ctx, toAuditRecord(milestone));
  const notification = toNotification(milestone);
  if (notification) {
    ctx.serviceSendClient<NotificationsService>({ name: "Notifications" }).dispatch(notification);
  }
}

function toNotification(milestone: Milestone): NotificationPayload | undefined {
  switch (milestone.kind) {
    case "incident.seen":
      return buildPayload(
        "detected",
        milestone.event,
        { occurrences: milestone.occurrences, captureId: milestone.captureId },
        milestone.event.observedAt,
      );
    case "capture.finished": {
      const summary = milestone.summary as {
        evidence?: { custodyUri: string; folder?: string } | null;
        forensicPod?: { namespace: string; name: string } | null;
        finishedAt?: string | null;
        headline?: string;
        topFinding?: string;
      };
      // A refused or unconfirmed claim with nothing salvaged is the audit log's, not the team's.
      const quiet = milestone.outcome === "refused" || milestone.outcome === "unconfirmed";
      if (quiet && !summary.evidence) return undefined;
      return buildPayload(
        milestone.outcome === "failed" ? "failed" : "captured",
        milestone.event,
        {
          captureId: milestone.captureId,
          outcome: milestone.outcome,
          evidenceUri: summary.evidence?.custodyUri ?? null,
          evidenceFolder: summary.evidence?.folder ?? null,
          forensicPod: summary.forensicPod
            ? `${summary.forensicPod.namespace}/${summary.forensicPod.name}`
            : null,
          headline: summary.headline ?? null,
          topFinding: summary.topFinding ?? null,
        },
        summary.finishedAt ?? milestone.event.observedAt,
      );
    }
    default:
      return undefined;
  }
}
