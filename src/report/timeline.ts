import { asArray, asNumber, asObject, asString, quote } from "../diagnosis/evidence-view.ts";
import type { EventRecord } from "../diagnosis/finding.ts";
import { MAX_TIMELINE_ENTRIES, type TimelineEntry } from "./report-schema.ts";

function timeOf(at: string | null): number {
  const ms = at ? Date.parse(at) : Number.NaN;
  return Number.isFinite(ms) ? ms : Number.POSITIVE_INFINITY;
}

/** The pod's history as status and events tell it, oldest first, the newest kept when long. */
export function buildTimeline(input: {
  pod: unknown;
  events: EventRecord[];
  container: string;
}): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  const status = asObject(asObject(input.pod)?.["status"]);
  const started = asString(status?.["startTime"]);
  if (started) entries.push({ at: started, source: "status", what: "pod started" });
  const statuses = [
    ...asArray(status?.["initContainerStatuses"]),
    ...asArray(status?.["containerStatuses"]),
  ].map(asObject);
  for (const container of statuses) {
    const name = asString(container?.["name"]) ?? "?";
    const restarts = asNumber(container?.["restartCount"]) ?? 0;
    const last = asObject(asObject(container?.["lastState"])?.["terminated"]);
    if (last) {
      const lastStart = asString(last["startedAt"]);
      if (lastStart)
        entries.push({
          at: lastStart,
          source: "status",
          what: `${name} started (previous instance)`,
        });
      entries.push({
        at: asString(last["finishedAt"]) ?? null,
        source: "status",
        what: `${name} terminated: ${asString(last["reason"]) ?? "?"}, exit ${asNumber(last["exitCode"]) ?? "?"} (restart ${restarts})`,
      });
    }
    const state = asObject(container?.["state"]);
    const running = asObject(state?.["running"]);
    const waiting = asObject(state?.["waiting"]);
    const terminated = asObject(state?.["terminated"]);
    if (running)
      entries.push({
        at: asString(running["startedAt"]) ?? null,
        source: "status",
        what: `${name} running`,
      });
    if (terminated)
      entries.push({
        at: asString(terminated["finishedAt"]) ?? null,
        source: "status",
        what: `${name} terminated: ${asString(terminated["reason"]) ?? "?"}, exit ${asNumber(terminated["exitCode"]) ?? "?"}`,
      });
    if (waiting)
      entries.push({
        at: null,
        source: "status",
        what: `${name} now waiting: ${asString(waiting["reason"]) ?? "?"}`,
      });
  }
  for (const event of input.events) {
    const count = event.count && event.count > 1 ? ` (×${event.count})` : "";
    entries.push({
      at: event.lastTimestamp ?? event.firstTimestamp ?? null,
      source: "event",
      what: `${event.reason ?? "?"}${count}: ${quote(event.message ?? "")}`,
    });
  }
  // Entries without a time (the current waiting state) go last: they describe now.
  const sorted = entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => {
      const ta = timeOf(a.entry.at);
      const tb = timeOf(b.entry.at);
      return ta === tb ? a.index - b.index : ta - tb;
    })
    .map(({ entry }) => entry);
  return sorted.slice(-MAX_TIMELINE_ENTRIES);
}
