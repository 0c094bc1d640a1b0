import type { PodEvent } from "../../src/model/pod-event.ts";

/**
 * A signature's open cooldown: per pod and container, the newest event folded into it. Each
 * held event stands for its own container's folded repeats (`suppressed`), never another
 * pod's, so the Incident can check every claim against that container's restartCount.
 */
type Window = { openedAtMs: number; held: Map<string, PodEvent> };

/** `send` holds the event itself and, first, what an expired window had folded. */
export type DedupDecision = { send: PodEvent[] } | { folded: PodEvent };

/** Containers one window holds; past it a new container's event is sent at once. */
export const MAX_HELD_PER_SIGNATURE = 1000;

const containerKey = (event: PodEvent) => `${event.podUID}\0${event.container}`;

/** The newer of two events of one container, standing for both and what each stood for. */
function merge(held: PodEvent, event: PodEvent): PodEvent {
  const [older, newer] = event.restartCount >= held.restartCount ? [held, event] : [event, held];
  return { ...newer, suppressed: newer.suppressed + 1 + older.suppressed };
}

/**
 * Folds repeats of one signature within the cooldown. Nothing is lost: when the cooldown ends,
 * each container's newest folded event is sent carrying how many of its own it stands for, so
 * counts add up exactly and the Incident can bound each by the container's restartCount.
 */
export class Deduper {
  #cooldownMs: number;
  readonly #maxSignatures: number;
  readonly #windows = new Map<string, Window>();

  constructor(cooldownMs: number, maxSignatures = 100_000) {
    this.#cooldownMs = cooldownMs;
    this.#maxSignatures = maxSignatures;
  }

  get size(): number {
    return this.#windows.size;
  }

  configure(cooldownMs: number): void {
    this.#cooldownMs = cooldownMs;
  }

  offer(event: PodEvent, nowMs: number): DedupDecision {
    const window = this.#windows.get(event.signature);
    if (window && nowMs - window.openedAtMs < this.#cooldownMs) {
      const key = containerKey(event);
      const held = window.held.get(key);
      if (held) {
        window.held.set(key, merge(held, event));
        return { folded: event };
      }
      if (window.held.size < MAX_HELD_PER_SIGNATURE) {
        window.held.set(key, event);
        return { folded: event };
      }
      return { send: [event] };
    }
    const carried = window ? [...window.held.values()] : [];
    this.#windows.delete(event.signature);
    this.#windows.set(event.signature, { openedAtMs: nowMs, held: new Map() });
    this.#evictBeyondBound();
    return { send: [...carried, event] };
  }

  /** Events whose cooldown has ended with repeats folded into them, ready to send. */
  drainExpired(nowMs: number): PodEvent[] {
    const due: PodEvent[] = [];
    for (const [signature, window] of this.#windows) {
      if (nowMs - window.openedAtMs < this.#cooldownMs) continue;
      this.#windows.delete(signature);
      due.push(...window.held.values());
    }
    return due;
  }

  /** Everything still folded, for a shutdown: nothing counted is left behind. */
  drainAll(): PodEvent[] {
    const due = [...this.#windows.values()].flatMap((window) => [...window.held.values()]);
    this.#windows.clear();
    return due;
  }

  /** Empty windows go first, oldest first; one still holding events waits for its drain. */
  #evictBeyondBound(): void {
    if (this.#windows.size <= this.#maxSignatures) return;
    for (const [signature, window] of this.#windows) {
      if (window.held.size > 0) continue;
      this.#windows.delete(signature);
      if (this.#windows.size <= this.#maxSignatures) return;
    }
  }
}
