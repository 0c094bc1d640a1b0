import * as restate from "@restatedev/restate-sdk";

import type { PodEvent } from "../src/model/pod-event.ts";
import type { CaptureWorkflow } from "./capture.workflow.ts";
import { announce } from "./milestones.ts";

export const RECENT_OCCURRENCES_KEPT = 64;
export const DEFAULT_RATE_LIMIT_WINDOW_S = 3600;

export type IncidentState = {
  cluster: string;
  signature: string;
  namespace: string;
  workload: PodEvent["workload"];
  container: string;
  reason: string;
  exitCode: number | null;
  occurrences: number;
  firstSeenAt: string;
  lastSeenAt: string;
  recentOccurrenceIds: string[];
  lastEvent: PodEvent;
  captures: number;
  lastCaptureId: string | null;
  lastCaptureAtMs: number | null;
};

export type RecordRequest = { event: PodEvent; rateLimitWindowS?: number | undefined };
export type RecordAnswer = {
  counted: boolean;
  occurrences: number;
  captureId: string | null;
  captureStarted: boolean;
};

export function incidentKey(event: Pick<PodEvent, "cluster" | "signature">): string {
  return `${event.cluster}:${event.signature}`;
}

/** Deterministic, a valid Kubernetes name suffix, and distinct per triggering occurrence. */
export function captureIdFor(event: Pick<PodEvent, "id">): string {
  return `pm-${event.id.slice(0, 24)}`;
}

const STATE_KEY = "incident";

export const Incident = restate.object({
  name: "Incident",
  handlers: {
    record: async (ctx: restate.ObjectContext, request: RecordRequest): Promise<RecordAnswer> => {
      const { event } = request;
      const windowMs = (request.rateLimitWindowS ?? DEFAULT_RATE_LIMIT_WINDOW_S) * 1000;
      const nowMs = await ctx.date.now();
      const now = new Date(nowMs).toISOString();
      const state = await ctx.get<IncidentState>(STATE_KEY);

      if (state?.recentOccurrenceIds.includes(event.id)) {
        return {
          counted: false,
          occurrences: state.occurrences,
          captureId: state.lastCaptureId,
          captureStarted: false,
        };
      }

      const next: IncidentState = {
        cluster: event.cluster,
        signature: event.signature,
        namespace: event.namespace,
        workload: event.workload,
        container: event.container,
        reason: event.reason,
        exitCode: event.exitCode,
        occurrences: (state?.occurrences ?? 0) + 1 + event.suppressed,
        firstSeenAt: state?.firstSeenAt ?? now,
        lastSeenAt: now,
        recentOccurrenceIds: [...(state?.recentOccurrenceIds ?? []), event.id].slice(
          -RECENT_OCCURRENCES_KEPT,
        ),
        lastEvent: event,
        captures: state?.captures ?? 0,
        lastCaptureId: state?.lastCaptureId ?? null,
        lastCaptureAtMs: state?.lastCaptureAtMs ?? null,
      };

      const windowOpen = next.lastCaptureAtMs === null || nowMs - next.lastCaptureAtMs >= windowMs;
      if (windowOpen) {
        const captureId = captureIdFor(event);
        ctx
          .workflowSendClient<CaptureWorkflow>({ name: "Capture" }, captureId)
          .run({ event, incidentKey: ctx.key });
        next.captures += 1;
        next.lastCaptureId = captureId;
        next.lastCaptureAtMs = nowMs;
      }
      ctx.set(STATE_KEY, next);
      announce(ctx, {
        kind: "incident.seen",
        event,
        occurrences: next.occurrences,
        captureId: windowOpen ? next.lastCaptureId : null,
      });
      return {
        counted: true,
        occurrences: next.occurrences,
        captureId: next.lastCaptureId,
        captureStarted: windowOpen,
      };
    },

    get: restate.handlers.object.shared(
      async (ctx: restate.ObjectSharedContext) => (await ctx.get<IncidentState>(STATE_KEY)) ?? null,
    ),
  },
});

export type IncidentObject = typeof Incident;
