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
  /** How long owners and their opt-out annotation are cached (PODMORTEM_OWNER_CACHE_TTL_S). */
  ownerCacheTtlS?: number;
  leaderElection?: LeaderElectionSettings | undefined;
  now?: () => number;
  fetchOwner?: FetchOwner;
  /** podmortem's own namespace, whose pods are never captured. */
  ownNamespace?: string | undefined;
};

export type Enrollment = { clusterUID: string; kubernetesVersion: string; watcherVersion: string };

const ALL_NAMESPACES = "*";
const TICK_MS = 1000;
const EVICT_EVERY_TICKS = 30;
const DROP_LOG_INTERVAL_MS = 10_000;

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
  let namespaceSelector: string | undefined;
  const firstLists = new Set<Promise<void>>();
  const labelledNamespaces = new Map<string, string>();
  let pollTimer: NodeJS.Timeout | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  let elector: LeaderElector | undefined;

  const fetchOwner: FetchOwner =
    deps.fetchOwner ??
    ((ref: V1OwnerReference, namespace: string) =>
      getRaw(deps.kc, objectPath(ref.apiVersion, ref.kind, namespace, ref.name)));

  let droppedSinceLog = 0;
  let droppedLoggedAtMs = Number.NEGATIVE_INFINITY;
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
      droppedSinceLog += events.length;
      // One error line per interval, not one per event: a full queue drops on every add.
      if (now() - droppedLoggedAtMs >= DROP_LOG_INTERVAL_MS) {
        log.error(
          { dropped: droppedSinceLog, queueBound: config.batch.queueBound },
          "queue full: dropped the oldest events",
        );
        droppedSinceLog = 0;
        droppedLoggedAtMs = now();
      }
      for (const event of events) {
        deps.metrics.events.inc({ type: "dropped", reason: reasonLabel(event.reason) });
        audit("dropped", event);
      }
      pipeline.release(events);
    },
    onRejected: (event, err) => {
      deps.metrics.dropped.inc();
      deps.metrics.events.inc({ type: "rejected", reason: reasonLabel(event.reason) });
      log.error({ err, eventId: event.id }, "Restate refused an event for good; dropped it");
      audit("rejected", event);
    },
    onQueueDepth: (depth) => deps.metrics.queueDepth.set(depth),
    onSendFailed: (err, attempt) =>
      log.warn({ err, attempt }, "sending a batch to Restate failed; retrying"),
  });

  const pipeline = createPodPipeline({
    cluster: deps.clusterName,
    batcher,
    resolver: createOwnerResolver(
      fetchOwner,
      deps.ownerCacheTtlS === undefined ? {} : { ttlMs: deps.ownerCacheTtlS * 1000 },
    ),
    metrics: deps.metrics,
    audit,
    log,
    now,
    config: () => config,
    ownNamespace: deps.ownNamespace,
  });

  function podWatchFor(scope: string): SupervisedWatch {
    const namespace = scope === ALL_NAMESPACES ? undefined : scope;
    return createSupervisedWatch({
      kc: deps.kc,
      path: namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods` : "/api/v1/pods",
      log,
      onReconnect: () => deps.metrics.reconnects.inc(),
      lineFilter: pipeline.lineFilter,
      handlers: {
        onObject: (type, raw) => pipeline.handle(type, raw),
        onListed: (uids) => pipeline.forgetAllBut(uids, namespace),
        whenCaughtUp: () => pipeline.whenCaughtUp(),
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
    for (const scope of desired) {
      if (podWatches.has(scope)) continue;
      const watch = podWatchFor(scope);
      podWatches.set(scope, watch);
      // Not awaited: a first list of a large cluster must not hold up the next reconciliation
      // (a lost lease stops the watches at once).
      const started = watch.start();
      firstLists.add(started);
      void started.finally(() => firstLists.delete(started));
      log.info({ scope }, "watching pods");
    }
    await Promise.all(stops);
  }

  async function syncNamespaceWatch(): Promise<void> {
    const wanted =
      active && config.namespaces.mode === "label" ? config.namespaces.selector : undefined;
    if (namespaceWatch && wanted !== namespaceSelector) {
      const previous = namespaceWatch;
      namespaceWatch = undefined;
      namespaceSelector = undefined;
      await previous.stop();
      labelledNamespaces.clear();
    }
    if (wanted === undefined || namespaceWatch) return;
    namespaceSelector = wanted;
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
          void reconcile();
        },
        onListed: (uids) => {
          for (const uid of labelledNamespaces.keys())
            if (!uids.has(uid)) labelledNamespaces.delete(uid);
          void reconcile();
        },
      },
    });
    await namespaceWatch.start();
  }

  // Watches are started and stopped by one reconciliation at a time, from the state as it is
  // when it runs: leadership, config and labelled namespaces may change meanwhile, and requests
  // made while one waits are served by it.
  let reconciled: Promise<void> = Promise.resolve();
  let pendingReconcile: Promise<void> | undefined;
  function reconcile(): Promise<void> {
    pendingReconcile ??= reconciled.then(async () => {
      pendingReconcile = undefined;
      try {
        await syncNamespaceWatch();
        await syncPodWatches();
      } catch (err) {
        log.error({ err }, "could not update the watches");
      }
    });
    reconciled = pendingReconcile;
    return pendingReconcile;
  }

  function activate(): void {
    active = true;
    void reconcile();
  }

  async function deactivate(): Promise<void> {
    active = false;
    await reconcile();
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
      void reconcile();
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
          { onStartedLeading: activate, onStoppedLeading: () => void deactivate() },
          log,
          now,
        );
        await elector.start();
      } else {
        activate();
        await reconcile();
        await Promise.all([...firstLists]);
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
      await reconcile();
      pipeline.drainFolded();
      await batcher.flush(flushDeadlineMs);
      batcher.stop();
    },
  };
}

export type Watcher = ReturnType<typeof createWatcher>;
