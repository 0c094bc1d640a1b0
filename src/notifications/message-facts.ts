import type { NotificationPayload } from "./payload.ts";

export const TITLES = {
  detected: "Crash detected",
  captured: "Crash captured",
  failed: "Capture failed",
} as const;

/** `Error (exit 1)`, or the reason alone when the container has no exit code. */
export function exitText(payload: NotificationPayload): string {
  return payload.exitCode === null
    ? payload.reason
    : `${payload.reason} (exit ${payload.exitCode})`;
}

/** One line for a reader who sees nothing else (a page title, a notification preview). */
export function summaryLine(payload: NotificationPayload, headline: string | null): string {
  return (
    headline ??
    `${TITLES[payload.event]}: ${payload.namespace}/${payload.pod} (${payload.container}) ${exitText(payload)} on ${payload.cluster}`
  );
}
