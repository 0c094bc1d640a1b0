import * as restate from "@restatedev/restate-sdk";

import type { PodEvent } from "../src/model/pod-event.ts";
import type { CaptureWorkflow } from "./capture.workflow.ts";
import { Cluster } from "./cluster.object.ts";
import {
  isTermination,
  markKey,
  markOf,
  newTerminations,
  withMark,
  type ContainerMarks,
} from "./incident-count.ts";
import { idleLimitMs } from "./idle-state.ts";
import type { WorkflowMetrics } from "./metrics.ts";
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
  /** Per pod container, the highest restartCount counted: the high-water mark (bounded LRU). */
  marks?: ContainerMarks;
  lastEvent: PodEvent;
  captures: number;
  lastCaptureId: string | null;
  lastCaptureAtMs: number | null;
  /** When the scheduled idle check runs; null while none is scheduled. */
  idleCheckAtMs?: number | null;
};

export type RecordRequest = {
  event: PodEvent;
  rateLimitWindowS?: number | undefined;
  /** False when another event of the same pod in the batch may start the capture (Ingest). */
  mayCapture?: boolean | undefined;
};
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

/**
 * The Incident served by the endpoint: it alone knows how many terminations an event adds,
 * so it counts `forensics_crashes_total`. Other services address it through `Incident` below.
 */
export const createIncidentObject = (metrics?: WorkflowMetrics) =>
  restate.object({
    name: "Incident",
    handlers: {
      record: async (ctx: restate.ObjectContext, request: RecordRequest): Promise<RecordAnswer> => {
        const { event } = request;
        const windowMs = (request.rateLimitWindowS ?? DEFAULT_RATE_LIMIT_WINDOW_S) * 1000;
        const nowMs = await ctx.date.now();
        const now = new Date(nowMs).toISOString();
        const state = await ctx.get<IncidentState>(STATE_KEY);

        const key = markKey(event);
        const marks = state?.marks ?? [];
        const mark = markOf(marks, key);
        const added = newTerminations(event, mark);
        // A resent occurrence, or one whose terminations were already counted (a late event, a
        // second watcher's copy, a relist after a crash): nothing new happened.
        if (state && (state.recentOccurrenceIds.includes(event.id) || added === 0)) {
          return {
            counted: false,
            occurrences: state.occurrences,
            captureId: state.lastCaptureId,
            captureStarted: false,
          };
        }

        if (metrics)
          await ctx.run("count crashes", () =>
            metrics.crashes.inc({ namespace: event.namespace, reason: event.reason }, added),
          );

        const next: IncidentState = {
          cluster: event.cluster,
          signature: event.signature,
          namespace: event.namespace,
          workload: event.workload,
          container: event.container,
          reason: event.reason,
          exitCode: event.exitCode,
          occurrences: (state?.occurrences ?? 0) + added,
          firstSeenAt: state?.firstSeenAt ?? now,
          lastSeenAt: now,
          recentOccurrenceIds: [...(state?.recentOccurrenceIds ?? []), event.id].slice(
            -RECENT_OCCURRENCES_KEPT,
          ),
          marks: isTermination(event)
            ? withMark(marks, key, Math.max(mark ?? -1, event.restartCount))
            : marks,
          lastEvent: event,
          captures: state?.captures ?? 0,
          lastCaptureId: state?.lastCaptureId ?? null,
          lastCaptureAtMs: state?.lastCaptureAtMs ?? null,
          idleCheckAtMs: state?.idleCheckAtMs ?? null,
        };

        const windowOpen =
          request.mayCapture !== false &&
          (next.lastCaptureAtMs === null || nowMs - next.lastCaptureAtMs >= windowMs);
        if (windowOpen) {
          const captureId = captureIdFor(event);
          ctx
            .workflowSendClient<CaptureWorkflow>({ name: "Capture" }, captureId)
            .run({ event, incidentKey: ctx.key });
          next.captures += 1;
          next.lastCaptureId = captureId;
          next.lastCaptureAtMs = nowMs;
        }
        if (next.idleCheckAtMs == null) {
          // One check at a time, scheduled on the first record after the last one ran; it
          // reschedules itself while events keep coming, and clears the state once they stop.
          const capture = await ctx.objectClient(Cluster, event.cluster).captureSettings();
          const idleMs = idleLimitMs(capture.rateLimitWindowS, capture.forgetAfterIdleWindows);
          next.idleCheckAtMs = nowMs + idleMs;
          ctx
            .objectSendClient<IncidentObject>({ name: "Incident" }, ctx.key)
            .forgetIfIdle({ idleMs }, restate.rpc.sendOpts({ delay: { milliseconds: idleMs } }));
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

      /** The delayed self-call: forgets an incident with no occurrence for `idleMs`. */
      forgetIfIdle: restate.handlers.object.exclusive(
        { ingressPrivate: true },
        async (ctx: restate.ObjectContext, request: { idleMs: number }): Promise<boolean> => {
          const state = await ctx.get<IncidentState>(STATE_KEY);
          if (!state) return false;
          const nowMs = await ctx.date.now();
          const idleUntilMs = Date.parse(state.lastSeenAt) + request.idleMs;
          if (nowMs >= idleUntilMs) {
            ctx.clearAll();
            return true;
          }
          ctx.set(STATE_KEY, { ...state, idleCheckAtMs: idleUntilMs });
          ctx
            .objectSendClient<IncidentObject>({ name: "Incident" }, ctx.key)
            .forgetIfIdle(
              request,
              restate.rpc.sendOpts({ delay: { milliseconds: idleUntilMs - nowMs } }),
            );
          return false;
        },
      ),

      /** The incident without its marks: callers want counts and times, not 512 pod entries. */
      get: restate.handlers.object.shared(
        async (ctx: restate.ObjectSharedContext): Promise<Omit<IncidentState, "marks"> | null> => {
          const state = await ctx.get<IncidentState>(STATE_KEY);
          if (!state) return null;
          const { marks: _marks, ...incident } = state;
          return incident;
        },
      ),
    },
    // Only Ingest records (after checking the claim) and Notifications reads: from the ingress a
    // forged record would count and capture at will.
    options: { ingressPrivate: true },
  });

/** The definition other services address (`ctx.objectSendClient(Incident, key)`). */
export const Incident = createIncidentObject();

export type IncidentObject = typeof Incident;
