import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function createWatcherMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry });
  let readiness: () => boolean = () => false;
  return {
    registry,
    ready: new Gauge({
      name: "forensics_watcher_ready",
      help: "What /readyz would answer at this scrape: 1 ready (every watch healthy, or a standing-by follower), 0 not",
      registers: [registry],
      collect() {
        this.set(readiness() ? 1 : 0);
      },
    }),
    /** Where the ready gauge reads from at each scrape: the watcher, once it exists. */
    reportReadiness(isReady: () => boolean): void {
      readiness = isReady;
    },
    events: new Counter({
      name: "forensics_watcher_events_total",
      help: "Pod events processed, by decision",
      labelNames: ["type", "reason"] as const,
      registers: [registry],
    }),
    deduped: new Counter({
      name: "forensics_watcher_events_deduped_total",
      help: "Events folded into a later event of the same signature",
      registers: [registry],
    }),
    dropped: new Counter({
      name: "forensics_watcher_events_dropped_total",
      help: "Events dropped because the queue was full",
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "forensics_watcher_queue_depth",
      help: "Events waiting to be sent to Restate",
      registers: [registry],
    }),
    reconnects: new Counter({
      name: "forensics_watcher_reconnects_total",
      help: "Watch restarts after an error or a stall",
      registers: [registry],
    }),
    batchesSent: new Counter({
      name: "forensics_watcher_batches_sent_total",
      help: "Batches sent to Restate, by outcome",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: "forensics_watcher_batch_size",
      help: "Events per batch sent",
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers: [registry],
    }),
    sendDuration: new Histogram({
      name: "forensics_watcher_send_duration_seconds",
      help: "Duration of one batch send to Restate",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}

export type WatcherMetrics = ReturnType<typeof createWatcherMetrics>;
