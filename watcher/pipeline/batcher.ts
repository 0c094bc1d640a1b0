import type { PodEvent } from "../../src/model/pod-event.ts";

export type BatcherSettings = { maxEvents: number; flushIntervalMs: number; queueBound: number };

export type BatcherHooks = {
  /** Sends one batch; resolves when delivered, rejects to have it retried. */
  send(events: PodEvent[]): Promise<void>;
  /** The queue was full: these, the oldest, are gone. */
  onDropped(events: PodEvent[]): void;
  /** The receiver refused this event for good (HTTP 400/413/422 on a batch of one). */
  onRejected?(event: PodEvent, error: unknown): void;
  onQueueDepth(depth: number): void;
  onSendFailed(error: unknown, attempt: number): void;
};

const RETRY_INITIAL_MS = 200;
const RETRY_MAX_MS = 10_000;
/** Statuses that resending the same bytes cannot fix; anything else (5xx, 429, 404 before the
 * services are registered, network errors) is worth retrying. */
const REFUSED_STATUSES = new Set([400, 413, 422]);

export function isRefusal(error: unknown): boolean {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" && REFUSED_STATUSES.has(status);
}

/**
 * Collects events and flushes them by size or interval, whichever comes first, one batch in
 * flight at a time so events arrive in order. The bound applies to what waits: when it is
 * exceeded the oldest waiting events go. A batch in flight is either delivered or put back at
 * the head of the queue, so every event ends up sent, dropped or rejected exactly once.
 * A refused batch is split in halves until the one event the receiver refuses is isolated.
 */
export class Batcher {
  #settings: BatcherSettings;
  readonly #hooks: BatcherHooks;
  #queue: PodEvent[] = [];
  #inFlightCount = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #wakeBackoff: (() => void) | undefined;
  #stopped = false;

  constructor(settings: BatcherSettings, hooks: BatcherHooks) {
    this.#settings = settings;
    this.#hooks = hooks;
  }

  /** Events waiting or in flight. */
  get depth(): number {
    return this.#queue.length + this.#inFlightCount;
  }

  configure(settings: BatcherSettings): void {
    this.#settings = settings;
    this.#trim();
    this.#reportDepth();
  }

  add(event: PodEvent): void {
    this.#queue.push(event);
    this.#trim();
    this.#reportDepth();
    if (this.#queue.length >= this.#settings.maxEvents) this.#kick();
    else this.#timer ??= setTimeout(() => this.#kick(), this.#settings.flushIntervalMs);
  }

  /** Sends everything queued, retrying until delivered or the deadline passes. */
  async flush(deadlineMs = Number.POSITIVE_INFINITY): Promise<void> {
    const until = Date.now() + deadlineMs;
    while (this.depth > 0 && Date.now() < until && !this.#stopped) {
      this.#kick();
      // A retry waiting out its backoff goes again now: the caller is about to give up.
      this.#wakeBackoff?.();
      const remaining = until - Date.now();
      if (!Number.isFinite(remaining)) {
        await this.#inFlight;
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#inFlight,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, remaining)))),
      ]);
      clearTimeout(timer);
    }
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wakeBackoff?.();
  }

  #reportDepth(): void {
    this.#hooks.onQueueDepth(this.depth);
  }

  #trim(): void {
    const excess = this.#queue.length - this.#settings.queueBound;
    if (excess > 0) this.#hooks.onDropped(this.#queue.splice(0, excess));
  }

  #kick(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#inFlight || this.#queue.length === 0) return;
    this.#inFlight = this.#drain().finally(() => {
      this.#inFlight = undefined;
      if (!this.#stopped && this.#queue.length > 0) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    let attempt = 0;
    let limit = this.#settings.maxEvents;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, Math.min(limit, this.#settings.maxEvents));
      this.#inFlightCount = batch.length;
      let failure: unknown;
      try {
        await this.#hooks.send(batch);
      } catch (error) {
        failure = error;
      } finally {
        this.#inFlightCount = 0;
      }
      if (failure === undefined) {
        attempt = 0;
        this.#reportDepth();
        continue;
      }
      if (isRefusal(failure)) {
        if (batch.length > 1) {
          limit = Math.ceil(batch.length / 2);
          this.#queue.unshift(...batch);
          continue;
        }
        limit = this.#settings.maxEvents;
        this.#hooks.onRejected?.(batch[0]!, failure);
        this.#reportDepth();
        continue;
      }
      // Back at the head, in order; if the queue overflowed meanwhile these are the oldest.
      this.#queue.unshift(...batch);
      this.#trim();
      this.#reportDepth();
      attempt += 1;
      this.#hooks.onSendFailed(failure, attempt);
      if (this.#stopped) return;
      const backoffMs = Math.min(RETRY_MAX_MS, RETRY_INITIAL_MS * 2 ** (attempt - 1));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoffMs * (0.5 + Math.random() / 2));
        this.#wakeBackoff = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wakeBackoff = undefined;
      if (this.#stopped) return;
    }
  }
}
