import type { PodEvent } from "../src/model/pod-event.ts";

/**
 * Pod containers whose high-water mark one Incident keeps, least recently counted dropped
 * first. A container past the bound is counted by its event's own claim again, as on first
 * sighting: exact while one watcher runs, at worst a double count of a late duplicate.
 */
export const CONTAINER_MARKS_KEPT = 512;

/** `[podUID/container, restartCount]`, least recently counted first. */
export type ContainerMarks = Array<[string, number]>;

export const markKey = (event: Pick<PodEvent, "podUID" | "container">) =>
  `${event.podUID}/${event.container}`;

export function markOf(marks: ContainerMarks, key: string): number | undefined {
  return marks.find(([k]) => k === key)?.[1];
}

export function withMark(marks: ContainerMarks, key: string, restartCount: number): ContainerMarks {
  const rest = marks.filter(([k]) => k !== key);
  rest.push([key, restartCount]);
  return rest.slice(-CONTAINER_MARKS_KEPT);
}

/** A termination carries its instance's restart count; a waiting reason or an eviction does not. */
export const isTermination = (event: Pick<PodEvent, "exitCode">) => event.exitCode !== null;

/**
 * How many terminations this event adds, counted from the API server's own numbers. A
 * termination of instance `restartCount` proves that many earlier ones and itself. The event
 * claims itself and the `suppressed` ones before it (folded repeats, or instances no watcher
 * saw); a claim counts only as far as the container's restartCount went past the highest one
 * already counted (`mark`). So a lost, folded, repeated, late or doubly sent event can neither
 * lose nor double a count. A waiting reason or an eviction is one occurrence (and its id is
 * counted once).
 */
export function newTerminations(
  event: Pick<PodEvent, "exitCode" | "restartCount" | "suppressed">,
  mark: number | undefined,
): number {
  if (!isTermination(event)) return 1;
  const claimed = 1 + Math.min(event.suppressed, event.restartCount);
  if (mark === undefined) return claimed;
  return Math.max(0, Math.min(claimed, event.restartCount - mark));
}
