import type { PodEvent } from "../../src/model/pod-event.ts";

export type BatcherSettings = { maxEvents: number; flushIntervalMs: number; queueBound: number };

export type BatcherHooks = {
  /** Sends one batch; resolves when delivered, rejects to have it retried. */
  send(events: PodEvent[]): Promise<void>;
  onDropped(events: PodEvent[]): void;
  onQueueDepth(depth: number): void;
  onSendFailed(error: unknown, attempt: number): void;
};

const RETRY_INITIAL_MS = 200;
const RETRY_MAX_MS = 10_000;

/**
 * Collects events and flushes them by size or interval, whichever comes first, one batch in
 * flight at a time so events arrive in order. When the queue is full the oldest events go.
 */
export class Batcher {
  #settings: BatcherSettings;
  readonly #hooks: BatcherHooks;
  #queue: PodEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #stopped = false;

  constructor(settings: BatcherSettings, hooks: BatcherHooks) {
    this.#settings = settings;
    this.#hooks = hooks;
  }

  get depth(): number {
    return this.#queue.length;
  }

  configure(settings: BatcherSettings): void {
    this.#settings = settings;
    this.#trim();
  }

  add(event: PodEvent): void {
    this.#queue.push(event);
    this.#trim();
    this.#hooks.onQueueDepth(this.#queue.length);
    if (this.#queue.length >= this.#settings.maxEvents) this.#kick();
    else this.#timer ??= setTimeout(() => this.#kick(), this.#settings.flushIntervalMs);
  }

  /** Sends everything queued, retrying until delivered or the deadline passes. */
  async flush(deadlineMs = Number.POSITIVE_INFINITY): Promise<void> {
    const until = Date.now() + deadlineMs;
    while ((this.#queue.length > 0 || this.#inFlight) && Date.now() < until) {
      this.#kick();
      await this.#inFlight;
    }
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
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
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#settings.maxEvents);
      try {
        await this.#hooks.send(batch);
        // The queue may have been trimmed while the batch was in flight: remove what was sent.
        const sent = new Set(batch);
        this.#queue = this.#queue.filter((event) => !sent.has(event));
        this.#hooks.onQueueDepth(this.#queue.length);
        attempt = 0;
      } catch (error) {
        attempt += 1;
        this.#hooks.onSendFailed(error, attempt);
        if (this.#stopped) return;
        const backoffMs = Math.min(RETRY_MAX_MS, RETRY_INITIAL_MS * 2 ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, backoffMs * (0.5 + Math.random() / 2)));
      }
    }
  }
}
