import type { KubeConfig, V1Pod } from "@kubernetes/client-node";
import { createHash } from "node:crypto";

import type { Logger } from "../src/logging.ts";
import type { PodEvent } from "../src/model/pod-event.ts";
import {
  defaultRemoteConfig,
  toWatcherConfig,
  watcherConfigSchema,
  type WatcherConfig,
} from "../src/model/remote-config.ts";
import { describeProblems, validate } from "../src/model/validation.ts";
import { toError } from "../src/errors.ts";
import { createPodInformer } from "./informers/pod-informer.ts";
import type { WatcherMetrics } from "./metrics.ts";
import { Batcher } from "./pipeline/batcher.ts";
import { detectFailures } from "./pipeline/detect.ts";
import { inferWorkload } from "./pipeline/workload.ts";
import type { RestateLink } from "./restate-link.ts";

export type WatcherDeps = {
  kc: KubeConfig;
  link: RestateLink;
  log: Logger;
  metrics: WatcherMetrics;
  clusterName: string;
  identity: string;
  configPollIntervalMs: number;
  now?: () => number;
};

const SEEN_OCCURRENCES_KEPT = 200_000;

export function createWatcher(deps: WatcherDeps) {
  const log = deps.log.child({ component: "watcher" });
  const audit = deps.log.child({ component: "audit" });
  const now = deps.now ?? Date.now;
  let config: WatcherConfig = toWatcherConfig(defaultRemoteConfig());
  let configVersion: number | undefined;
  let reasons = new Set(config.detection.reasons);
  const seen = new Set<string>();
  let pollTimer: NodeJS.Timeout | undefined;

  const batcher = new Batcher(config.batch, {
    send: async (events) => {
      const end = deps.metrics.sendDuration.startTimer();
      try {
        const idempotencyKey = await deps.link.sendBatch(events);
        deps.metrics.batchesSent.inc({ outcome: "ok" });
        deps.metrics.batchSize.observe(events.length);
        for (const event of events) {
          audit.info({ decision: "sent", event: auditView(event), idempotencyKey }, "audit");
          deps.metrics.events.inc({ type: "sent", reason: event.reason });
        }
      } catch (error) {
        deps.metrics.batchesSent.inc({ outcome: "error" });
        throw error;
      } finally {
        end();
      }
    },
    onDropped: (events) => {
      deps.metrics.dropped.inc(events.length);
      log.error({ dropped: events.length }, "queue full: dropped the oldest events");
      for (const event of events)
        audit.info({ decision: "dropped", event: auditView(event) }, "audit");
    },
    onQueueDepth: (depth) => deps.metrics.queueDepth.set(depth),
    onSendFailed: (err, attempt) =>
      log.warn({ err, attempt }, "sending a batch to Restate failed; retrying"),
  });

  function remember(id: string): boolean {
    if (seen.has(id)) return false;
    seen.add(id);
    if (seen.size > SEEN_OCCURRENCES_KEPT) {
      const oldest = seen.values().next().value;
      if (oldest !== undefined) seen.delete(oldest);
    }
    return true;
  }

  function handlePod(pod: V1Pod): void {
    const observedAt = new Date(now()).toISOString();
    const context = { cluster: deps.clusterName, workload: inferWorkload(pod), observedAt };
    for (const detection of detectFailures(pod, context)) {
      if (!remember(detection.event.id)) continue;
      const labels = pod.metadata?.labels ?? {};
      const event: PodEvent = {
        ...detection.event,
        projectId: labels["project-id"] ?? null,
        workloadId: labels["workload-id"] ?? null,
        suppressed: 0,
      };
      if (!detection.reasons.some((reason) => reasons.has(reason))) {
        deps.metrics.events.inc({ type: "filtered", reason: event.reason });
        audit.info({ decision: "filtered", event: auditView(event) }, "audit");
        continue;
      }
      deps.metrics.events.inc({ type: "detected", reason: event.reason });
      batcher.add(event);
    }
  }

  function applyConfig(version: number, candidate: unknown): void {
    const result = validate(watcherConfigSchema, candidate);
    if (!result.ok) {
      log.error(
        { version, problems: describeProblems(result.problems) },
        "refused remote config; keeping the old one",
      );
      configVersion = version;
      return;
    }
    config = result.value;
    configVersion = version;
    reasons = new Set(config.detection.reasons);
    batcher.configure(config.batch);
    log.info({ version }, "applied remote config");
  }

  async function pollConfig(): Promise<void> {
    try {
      const answer = await deps.link.getConfig(deps.clusterName, configVersion);
      if (answer.changed) applyConfig(answer.version, answer.config);
    } catch (err) {
      log.warn({ err }, "could not read the remote config");
    }
  }

  const informer = createPodInformer(deps.kc, log, {
    onPod: handlePod,
    onRestart: () => deps.metrics.reconnects.inc(),
  });

  return {
    handlePod,
    get config() {
      return config;
    },
    async start(enrollment: {
      clusterUID: string;
      kubernetesVersion: string;
      watcherVersion: string;
    }) {
      for (let attempt = 1; ; attempt += 1) {
        try {
          await deps.link.enroll(deps.clusterName, {
            ...enrollment,
            watcherIdentity: deps.identity,
            capabilities: ["pods", "batch"],
          });
          break;
        } catch (error) {
          const err = toError(error);
          if (attempt >= 5) throw err;
          log.warn({ err, attempt }, "enrolling with Restate failed; retrying");
          await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
        }
      }
      await pollConfig();
      const poll = () => {
        pollTimer = setTimeout(() => void pollConfig().finally(poll), deps.configPollIntervalMs);
      };
      poll();
      await informer.start();
      log.info({ cluster: deps.clusterName }, "watching pods");
    },
    isReady: () => informer.isWatching(),
    async stop(flushDeadlineMs = 10_000) {
      clearTimeout(pollTimer);
      await informer.stop();
      await batcher.flush(flushDeadlineMs);
      batcher.stop();
    },
  };
}

function auditView(event: PodEvent) {
  const payloadSha256 = createHash("sha256").update(JSON.stringify(event)).digest("hex");
  return {
    id: event.id,
    namespace: event.namespace,
    pod: event.pod,
    container: event.container,
    reason: event.reason,
    signature: event.signature,
    payloadSha256,
  };
}

export type Watcher = ReturnType<typeof createWatcher>;
