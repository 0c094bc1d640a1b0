import { createLogger } from "../../src/logging.ts";
import { defaultRemoteConfig, toWatcherConfig } from "../../src/model/remote-config.ts";
import { createWatcherMetrics } from "../../watcher/metrics.ts";
import { Batcher } from "../../watcher/pipeline/batcher.ts";
import { createOwnerResolver } from "../../watcher/pipeline/owner-resolver.ts";
import { createAuditWriter, createPodPipeline } from "../../watcher/pod-pipeline.ts";

/** The watcher's pipeline with everything real but the network: batches are counted, not sent. */
export function createBenchPipeline(options: { audit?: boolean } = {}) {
  let sentEvents = 0;
  let batches = 0;
  const config = toWatcherConfig(defaultRemoteConfig());
  const metrics = createWatcherMetrics();
  const batcher = new Batcher(config.batch, {
    send: async (events) => {
      sentEvents += events.length;
      batches += 1;
    },
    onDropped: () => undefined,
    onQueueDepth: (depth) => metrics.queueDepth.set(depth),
    onSendFailed: () => undefined,
  });
  const log = createLogger({ name: "bench", level: options.audit ? "info" : "silent" });
  const pipeline = createPodPipeline({
    cluster: "bench",
    batcher,
    resolver: createOwnerResolver(async (ref) => ({
      metadata: {
        name: ref.name,
        ownerReferences:
          ref.kind === "ReplicaSet"
            ? [
                {
                  apiVersion: "apps/v1",
                  kind: "Deployment",
                  name: "checkout",
                  uid: "dep-1",
                  controller: true,
                },
              ]
            : [],
      },
    })),
    metrics,
    audit: createAuditWriter(log),
    log,
    now: Date.now,
    config: () => config,
  });
  return { pipeline, batcher, metrics, counts: () => ({ sentEvents, batches }) };
}
