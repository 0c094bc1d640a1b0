import type * as restate from "@restatedev/restate-sdk";

import type { PodEvent } from "../src/model/pod-event.ts";

/** What the backend tells the audit log and the notification sinks about. */
export type Milestone =
  | { kind: "incident.seen"; event: PodEvent; occurrences: number; captureId: string | null }
  | { kind: "capture.started"; captureId: string; event: PodEvent }
  | {
      kind: "capture.finished";
      captureId: string;
      event: PodEvent;
      outcome: "succeeded" | "partial" | "failed";
      summary: unknown;
    };

/**
 * Announces a milestone from inside a handler. Only one-way sends happen here, so a slow audit
 * log or a notification sink that is down never delays the capture steps.
 */
export function announce(_ctx: restate.Context, _milestone: Milestone): void {
  // Wired to the audit log and the notification sinks by the control plane.
}
