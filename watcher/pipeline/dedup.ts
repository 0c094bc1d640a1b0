import type { PodEvent } from "../../src/model/pod-event.ts";

type Window = { openedAtMs: number; pending: PodEvent | undefined; folded: number };

/** `send` holds the event itself and, first, what an expired window had folded. */
export type DedupDecision = { send: PodEvent[] } | { folded: PodEvent };

/**
 * Folds repeats of one signature within the cooldown. Nothing is lost: when the cooldown ends,
 * the last folded event is sent carrying how many it stands for, so counts add up exactly.
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
      window.folded += 1 + event.suppressed;
      window.pending = event;
      return { folded: event };
    }
    const carried = window ? this.#carry(window) : undefined;
    this.#windows.delete(event.signature);
    this.#windows.set(event.signature, { openedAtMs: nowMs, pending: undefined, folded: 0 });
    this.#evictBeyondBound(nowMs);
    return { send: carried ? [carried, event] : [event] };
  }

  /** Events whose cooldown has ended with repeats folded into them, ready to send. */
  drainExpired(nowMs: number): PodEvent[] {
    const due: PodEvent[] = [];
    for (const [signature, window] of this.#windows) {
      if (nowMs - window.openedAtMs < this.#cooldownMs) continue;
      this.#windows.delete(signature);
      const carried = this.#carry(window);
      if (carried) due.push(carried);
    }
    return due;
  }

  /** Everything still folded, for a shutdown: nothing counted is left behind. */
  drainAll(): PodEvent[] {
    const due = [...this.#windows.values()]
      .map((w) => this.#carry(w))
      .filter((e) => e !== undefined);
    this.#windows.clear();
    return due;
  }

  #carry(window: Window): PodEvent | undefined {
    if (!window.pending || window.folded === 0) return undefined;
    // The pending event counts itself once; suppressed is the rest of what was folded.
    return { ...window.pending, suppressed: window.folded - 1 };
  }

  #evictBeyondBound(nowMs: number): void {
    if (this.#windows.size <= this.#maxSignatures) return;
    for (const [signature, window] of this.#windows) {
      if (window.folded > 0 && nowMs - window.openedAtMs < this.#cooldownMs) continue;
      this.#windows.delete(signature);
      if (this.#windows.size <= this.#maxSignatures) return;
    }
  }
}
