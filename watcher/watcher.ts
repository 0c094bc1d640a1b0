import type { KubeConfig, V1OwnerReference } from "@kubernetes/client-node";

import { toError } from "../src/errors.ts";
import { getRaw, objectPath } from "../src/k8s/raw.ts";
import type { Logger } from "../src/logging.ts";
import {
  defaultRemoteConfig,
  toWatcherConfig,
  watcherConfigSchema,
  type WatcherConfig,
} from "../src/model/remote-config.ts";
import { describeProblems, validate } from "../src/model/validation.ts";
import { createSupervisedWatch, type SupervisedWatch } from "./informers/supervised-watch.ts";
import { createLeaderElector, type LeaderElectionSettings, type LeaderElector } from "./leader.ts";
import type { WatcherMetrics } from "./metrics.ts";
import { Batcher } from "./pipeline/batcher.ts";
import { createOwnerResolver, type FetchOwner } from "./pipeline/owner-resolver.ts";
import { createAuditWriter, createPodPipeline, reasonLabel } from "./pod-pipeline.ts";
import type { RestateLink } from "./restate-link.ts";

export type WatcherDeps = {
  kc: KubeConfig;
  link: RestateLink;
  log: Logger;
  /** Where audit lines go; the process logger by default. */
  auditLog?: Logger;
  metrics: WatcherMetrics;
  clusterName: string;
  identity: string;
  configPollIntervalMs: number;
  leaderElection?: LeaderElectionSettings | undefined;
  now?: () => number;
  fetchOwner?: FetchOwner;
};

export type Enrollment = { clusterUID: string; kubernetesVersion: string; watcherVersion: string };

const ALL_NAMESPACES = "*";
const TICK_MS = 1000;
const EVICT_EVERY_TICKS = 30;

export function createWatcher(deps: WatcherDeps) {
  const log = deps.log.child({ component: "watcher" });
  const now = deps.now ?? Date.now;
  const audit = createAuditWriter((deps.auditLog ?? deps.log).child({ component: "audit" }));
  let config: WatcherConfig = toWatcherConfig(defaultRemoteConfig());
  let configVersion: number | undefined;
  let refusedVersion: number | undefined;
  let active = false;
  let stopping = false;
  const podWatches = new Map<string, SupervisedWatch>();
  let namespaceWatch: SupervisedWatch | undefined;
  const labelledNamespaces = new Map<string, string>();
  let pollTimer: NodeJS.Timeout | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  let elector: LeaderElector | undefined;

  const fetchOwner: FetchOwner =
    deps.fetchOwner ??
    ((ref: V1OwnerReference, namespace: string) =>
      getRaw(deps.kc, objectPath(ref.apiVersion, ref.kind, namespace, ref.name)));

  const batcher = new Batcher(config.batch, {
    send: async (events) => {
      const end = deps.metrics.sendDuration.startTimer();
      try {
        const idempotencyKey = await deps.link.sendBatch(events);
        deps.metrics.batchesSent.inc({ outcome: "ok" });
        deps.metrics.batchSize.observe(events.length);
        for (const event of events) {
          deps.metrics.events.inc({ type: "sent", reason: reasonLabel(event.reason) });
          audit("sent", event, { idempotencyKey });
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
      log.error(
        { dropped: events.length, queueBound: config.batch.queueBound },
        "queue full: dropped the oldest events",
      );
      for (const event of events) {
        deps.metrics.events.inc({ type: "dropped", reason: reasonLabel(event.reason) });
        audit("dropped", event);
      }
    },
    onQueueDepth: (depth) => deps.metrics.queueDepth.set(depth),
    onSendFailed: (err, attempt) =>
      log.warn({ err, attempt }, "sending a batch to Restate failed; retrying"),
  });

  const pipeline = createPodPipeline({
    cluster: deps.clusterName,
    batcher,
    resolver: createOwnerResolver(fetchOwner),
    metrics: deps.metrics,
    audit,
    log,
    now,
    config: () => config,
  });

  function podWatchFor(scope: string): SupervisedWatch {
    const namespace = scope === ALL_NAMESPACES ? undefined : scope;
    return createSupervisedWatch({
      kc: deps.kc,
      path: namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods` : "/api/v1/pods",
      log,
      onReconnect: () => deps.metrics.reconnects.inc(),
      handlers: {
        onObject: (type, raw) => pipeline.handle(type, raw),
        onListed: (uids) => pipeline.forgetAllBut(uids, namespace),
      },
    });
  }

  function desiredScopes(): Set<string> {
    const { mode, list, exclude } = config.namespaces;
    if (mode === "all") return new Set([ALL_NAMESPACES]);
    const names = mode === "list" ? list : [...labelledNamespaces.values()];
    return new Set(names.filter((name) => !exclude.includes(name)));
  }

  async function syncPodWatches(): Promise<void> {
    const desired = active ? desiredScopes() : new Set<string>();
    const stops: Promise<void>[] = [];
    for (const [scope, watch] of podWatches) {
      if (desired.has(scope)) continue;
      podWatches.delete(scope);
      stops.push(watch.stop());
      if (scope !== ALL_NAMESPACES) pipeline.forgetNamespace(scope);
      log.info({ scope }, "stopped watching pods");
    }
    const starts: Promise<void>[] = [];
    for (const scope of desired) {
      if (podWatches.has(scope)) continue;
      const watch = podWatchFor(scope);
      podWatches.set(scope, watch);
      starts.push(watch.start());
      log.info({ scope }, "watching pods");
    }
    await Promise.all([...stops, ...starts]);
  }

  async function syncNamespaceWatch(): Promise<void> {
    const wanted =
      active && config.namespaces.mode === "label" ? config.namespaces.selector : undefined;
    if (namespaceWatch && wanted !== currentSelector) {
      await namespaceWatch.stop();
      namespaceWatch = undefined;
      labelledNamespaces.clear();
    }
    if (wanted === undefined || namespaceWatch) return;
    currentSelector = wanted;
    namespaceWatch = createSupervisedWatch({
      kc: deps.kc,
      path: "/api/v1/namespaces",
      labelSelector: wanted,
      log,
      onReconnect: () => deps.metrics.reconnects.inc(),
      handlers: {
        onObject: (type, raw) => {
          const metadata = (raw as { metadata?: { uid?: string; name?: string } }).metadata;
          if (!metadata?.uid || !metadata.name) return;
          // A namespace that loses the label leaves a selector watch as DELETED.
          if (type === "DELETED") labelledNamespaces.delete(metadata.uid);
          else labelledNamespaces.set(metadata.uid, metadata.name);
          void syncPodWatches();
        },
        onListed: (uids) => {
          for (const uid of labelledNamespaces.keys())
            if (!uids.has(uid)) labelledNamespaces.delete(uid);
          void syncPodWatches();
        },
      },
    });
    await namespaceWatch.start();
  }
  let currentSelector: string | undefined;

  async function activate(): Promise<void> {
    active = true;
    await syncNamespaceWatch();
    await syncPodWatches();
  }

  async function deactivate(): Promise<void> {
    active = false;
    await syncNamespaceWatch();
    await syncPodWatches();
    pipeline.drainFolded();
    await batcher.flush(10_000);
  }

  function applyConfig(version: number, candidate: unknown): void {
    const result = validate(watcherConfigSchema, candidate);
    if (!result.ok) {
      if (refusedVersion !== version) {
        log.error(
          { version, problems: describeProblems(result.problems) },
          "refused remote config; keeping the old one",
        );
      }
      refusedVersion = version;
      return;
    }
    const previous = config;
    config = result.value;
    configVersion = version;
    pipeline.configure(config);
    batcher.configure(config.batch);
    log.info({ version }, "applied remote config");
    if (JSON.stringify(previous.namespaces) !== JSON.stringify(config.namespaces)) {
      void syncNamespaceWatch().then(syncPodWatches);
    }
  }

  async function pollConfig(): Promise<void> {
    try {
      const answer = await deps.link.getConfig(deps.clusterName, configVersion);
      if (answer.changed) applyConfig(answer.version, answer.config);
    } catch (err) {
      log.warn({ err }, "could not read the remote config; keeping the current one");
    }
  }

  async function enroll(enrollment: Enrollment): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await deps.link.enroll(deps.clusterName, {
          ...enrollment,
          watcherIdentity: deps.identity,
          capabilities: ["pods", "namespaces", "dedup", "leader-election", "config-v1"],
        });
        return;
      } catch (error) {
        if (attempt >= 5 || stopping) throw toError(error);
        log.warn({ err: error, attempt }, "enrolling with Restate failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
      }
    }
  }

  return {
    get config(): WatcherConfig {
      return config;
    },
    get configVersion(): number | undefined {
      return configVersion;
    },
    stats: () => ({ ...pipeline.stats(), queue: batcher.depth, watches: podWatches.size }),
    isLeader: () => active,
    async start(enrollment: Enrollment): Promise<void> {
      await enroll(enrollment);
      await pollConfig();
      const poll = () => {
        pollTimer = setTimeout(() => void pollConfig().finally(poll), deps.configPollIntervalMs);
      };
      poll();
      let ticks = 0;
      tickTimer = setInterval(() => {
        pipeline.tick();
        if (++ticks % EVICT_EVERY_TICKS === 0) pipeline.evictExpired();
      }, TICK_MS);
      if (deps.leaderElection) {
        elector = createLeaderElector(
          deps.kc,
          deps.leaderElection,
          { onStartedLeading: activate, onStoppedLeading: deactivate },
          log,
          now,
        );
        await elector.start();
      } else {
        await activate();
      }
    },
    /** Ready when it watches all it should, or stands by as a follower. */
    isReady(): boolean {
      if (!active) return elector !== undefined;
      if (namespaceWatch && !namespaceWatch.isHealthy()) return false;
      return [...podWatches.values()].every((watch) => watch.isHealthy());
    },
    async stop(flushDeadlineMs = 10_000): Promise<void> {
      stopping = true;
      clearTimeout(pollTimer);
      clearInterval(tickTimer);
      if (elector) await elector.stop();
      active = false;
      await syncNamespaceWatch();
      await syncPodWatches();
      pipeline.drainFolded();
      await batcher.flush(flushDeadlineMs);
      batcher.stop();
    },
  };
}

export type Watcher = ReturnType<typeof createWatcher>;
