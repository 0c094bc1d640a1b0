import { createHash } from "node:crypto";

import { isPodmortemObject } from "../src/k8s/podmortem-labels.ts";
import type { Logger } from "../src/logging.ts";
import type { PodEvent } from "../src/model/pod-event.ts";
import { DEFAULT_REASONS, type WatcherConfig } from "../src/model/remote-config.ts";
import { computeSignature } from "../src/model/signature.ts";
import { createPodLineFilter } from "./informers/pod-line-filter.ts";
import { statusFingerprint, toSlimPod } from "./informers/slim-pod.ts";
import type { WatcherMetrics } from "./metrics.ts";
import type { Batcher } from "./pipeline/batcher.ts";
import { Deduper } from "./pipeline/dedup.ts";
import { detectFailures, terminatedInstance } from "./pipeline/detect.ts";
import { MetadataCache } from "./pipeline/metadata-cache.ts";
import type { OwnerResolver, Resolution } from "./pipeline/owner-resolver.ts";
import { inferWorkload } from "./pipeline/workload.ts";

export const AUDIT_DECISIONS = [
  "sent",
  "deduped",
  "filtered",
  "opted_out",
  "dropped",
  "rejected",
] as const;
export type AuditDecision = (typeof AUDIT_DECISIONS)[number];

const KNOWN_REASONS = new Set<string>([...DEFAULT_REASONS, "InvalidImageName"]);

/** Metric labels come from a fixed set: a runtime's free-text reason becomes "Other". */
export function reasonLabel(reason: string): string {
  return KNOWN_REASONS.has(reason) ? reason : "Other";
}

export function payloadSha256(event: PodEvent): string {
  return createHash("sha256").update(JSON.stringify(event)).digest("hex");
}

export type AuditWriter = (
  decision: AuditDecision,
  event: PodEvent,
  extra?: { idempotencyKey?: string },
) => void;

export function createAuditWriter(audit: Logger): AuditWriter {
  return (decision, event, extra) => {
    if (!audit.isLevelEnabled("info")) return;
    audit.info(
      {
        audit: "pod-event",
        decision,
        eventId: event.id,
        signature: event.signature,
        cluster: event.cluster,
        namespace: event.namespace,
        pod: event.pod,
        container: event.container,
        reason: event.reason,
        exitCode: event.exitCode,
        suppressed: event.suppressed,
        payloadSha256: payloadSha256(event),
        ...(extra?.idempotencyKey ? { idempotencyKey: extra.idempotencyKey } : {}),
      },
      "audit",
    );
  };
}

const SEEN_OCCURRENCES_KEPT = 200_000;
/**
 * Owner lookups in flight past which the watch stream stops being read, and the level it
 * resumes at: a burst over thousands of new workloads costs bounded memory, not one pending
 * pod per line read.
 */
export const MAX_PENDING_RESOLUTIONS = 256;
const RESUME_PENDING_RESOLUTIONS = 64;

/**
 * From raw pod JSON to queued events: skip updates that change nothing detection reads, detect
 * each new occurrence once, resolve its workload, filter, fold repeats, enrich, batch.
 */
export function createPodPipeline(deps: {
  cluster: string;
  batcher: Batcher;
  resolver: OwnerResolver;
  metrics: WatcherMetrics;
  audit: AuditWriter;
  log: Logger;
  now: () => number;
  config: () => WatcherConfig;
  /** podmortem's own namespace: never watched for failures (the labels contract). */
  ownNamespace?: string | undefined;
}) {
  const fingerprints = new Map<string, Map<string, string>>();
  const seen = new Set<string>();
  // The newest terminated instance seen per container, failing or not. A termination's event
  // claims the instances between it and the last one seen as its own (`suppressed`): nobody saw
  // them (an API server outage, a watcher that just started), yet the status proves they
  // happened. The Incident bounds every claim by its own high-water mark of restartCount.
  const lastInstances = new Map<string, Map<string, number>>();
  const metadata = new MetadataCache(deps.config().metadataCache);
  const deduper = new Deduper(deps.config().dedup.cooldownS * 1000);
  let reasons = new Set(deps.config().detection.reasons);
  let excluded = new Set(deps.config().namespaces.exclude);
  let pendingResolutions = 0;
  let caughtUp: PromiseWithResolvers<void> | undefined;
  // Shared by every pod watch: uids are unique across namespaces.
  const lineFilter = createPodLineFilter();

  /** Keyed by the occurrence id's pre-image: the same occurrence, no hashing to find out. */
  function remember(occurrenceKey: string): boolean {
    if (seen.has(occurrenceKey)) return false;
    seen.add(occurrenceKey);
    if (seen.size > SEEN_OCCURRENCES_KEPT) {
      const oldest = seen.values().next().value;
      if (oldest !== undefined) seen.delete(oldest);
    }
    return true;
  }

  function unseenTerminations(
    uid: string,
    event: Pick<PodEvent, "container" | "restartCount" | "exitCode">,
  ): number {
    if (event.exitCode === null) return 0;
    const previous = lastInstances.get(uid)?.get(event.container) ?? -1;
    return Math.max(0, event.restartCount - previous - 1);
  }

  function noteInstances(uid: string, pod: NonNullable<ReturnType<typeof toSlimPod>>): void {
    const status = pod.status;
    for (const group of [
      status?.initContainerStatuses,
      status?.containerStatuses,
      status?.ephemeralContainerStatuses,
    ]) {
      for (const container of group ?? []) {
        const instance = terminatedInstance(container);
        if (instance === undefined) continue;
        let containers = lastInstances.get(uid);
        if (!containers) lastInstances.set(uid, (containers = new Map<string, number>()));
        containers.set(container.name, Math.max(containers.get(container.name) ?? -1, instance));
      }
    }
  }

  function admit(event: PodEvent): void {
    const decision = deduper.offer(event, deps.now());
    if ("folded" in decision) {
      deps.metrics.deduped.inc();
      deps.metrics.events.inc({ type: "deduped", reason: reasonLabel(event.reason) });
      deps.audit("deduped", event);
      return;
    }
    for (const event of decision.send) deps.batcher.add(event);
  }

  function admitResolved(events: PodEvent[], resolution: Resolution): void {
    const { workload, optOut } = resolution;
    for (const detected of events) {
      const sameWorkload =
        detected.workload.kind === workload.kind && detected.workload.name === workload.name;
      const event = sameWorkload
        ? detected
        : { ...detected, workload, signature: computeSignature({ ...detected, workload }) };
      if (optOut) {
        deps.metrics.events.inc({ type: "opted_out", reason: reasonLabel(event.reason) });
        deps.audit("opted_out", event);
        continue;
      }
      admit(event);
    }
  }

  async function resolveAndAdmit(
    events: PodEvent[],
    pod: NonNullable<ReturnType<typeof toSlimPod>>,
  ): Promise<void> {
    pendingResolutions += 1;
    try {
      admitResolved(events, await deps.resolver.resolve(pod, deps.now()));
    } catch (err) {
      deps.log.error({ err, pod: pod.metadata?.name }, "could not process a pod's failures");
    } finally {
      pendingResolutions -= 1;
      if (caughtUp && pendingResolutions <= RESUME_PENDING_RESOLUTIONS) {
        caughtUp.resolve();
        caughtUp = undefined;
      }
    }
  }

  return {
    /** Watch lines whose detection-relevant bytes did not change are never parsed. */
    lineFilter,
    /** A promise while too many owner lookups are in flight; the watches wait on it. */
    whenCaughtUp(): Promise<void> | undefined {
      if (pendingResolutions < MAX_PENDING_RESOLUTIONS) return undefined;
      caughtUp ??= Promise.withResolvers<void>();
      return caughtUp.promise;
    },
    handle(type: "ADDED" | "MODIFIED" | "DELETED", raw: unknown): void {
      const objectMeta = (
        raw as { metadata?: { uid?: string; namespace?: string; labels?: Record<string, string> } }
      ).metadata;
      const uid = objectMeta?.uid;
      const namespace = objectMeta?.namespace;
      if (!uid || !namespace || excluded.has(namespace)) return;
      // podmortem never captures itself: a copy that fails like its source would recurse.
      if (namespace === deps.ownNamespace || isPodmortemObject(objectMeta?.labels)) return;
      const fingerprint = statusFingerprint(raw);
      let inNamespace = fingerprints.get(namespace);
      if (!inNamespace) fingerprints.set(namespace, (inNamespace = new Map<string, string>()));
      if (type !== "DELETED" && inNamespace.get(uid) === fingerprint) return;
      if (type === "DELETED") inNamespace.delete(uid);
      else inNamespace.set(uid, fingerprint);
      const pod = toSlimPod(raw);
      if (!pod) return;
      const nowMs = deps.now();
      metadata.remember(uid, pod.metadata?.labels, nowMs);
      const observedAt = new Date(nowMs).toISOString();
      const fresh: PodEvent[] = [];
      const resolution = deps.resolver.cached(pod, nowMs);
      const workload = resolution?.workload ?? inferWorkload(pod);
      for (const detection of detectFailures(pod, {
        cluster: deps.cluster,
        workload,
        observedAt,
        isNewOccurrence: remember,
      })) {
        const meta = metadata.getMetadata(uid, nowMs);
        const event: PodEvent = {
          ...detection.event,
          ...meta,
          suppressed: unseenTerminations(uid, detection.event),
        };
        if (!detection.reasons.some((reason) => reasons.has(reason))) {
          deps.metrics.events.inc({ type: "filtered", reason: reasonLabel(event.reason) });
          deps.audit("filtered", event);
          continue;
        }
        deps.metrics.events.inc({ type: "detected", reason: reasonLabel(event.reason) });
        fresh.push(event);
      }
      if (type === "DELETED") {
        metadata.forget(uid);
        lastInstances.delete(uid);
      } else noteInstances(uid, pod);
      if (fresh.length === 0) return;
      if (resolution) admitResolved(fresh, resolution);
      else void resolveAndAdmit(fresh, pod);
    },
    /** Pods absent from a fresh list of a scope are gone: drop what was kept for them. */
    forgetAllBut(uids: ReadonlySet<string>, namespace: string | undefined): void {
      // A list of every namespace seeded the filter with each listed pod's bytes (seedList);
      // a namespace's list cannot tell the filter which of its pods belong to that namespace.
      if (namespace === undefined) lineFilter.keepOnly(uids);
      else lineFilter.reset();
      const scopes =
        namespace === undefined ? [...fingerprints.values()] : [fingerprints.get(namespace)];
      for (const scope of scopes) {
        if (!scope) continue;
        for (const uid of scope.keys()) {
          if (uids.has(uid)) continue;
          scope.delete(uid);
          lastInstances.delete(uid);
          metadata.forget(uid);
        }
      }
    },
    /** A namespace no longer watched: what was kept for its pods goes (its occurrences stay seen). */
    forgetNamespace(namespace: string): void {
      lineFilter.reset();
      for (const uid of fingerprints.get(namespace)?.keys() ?? []) {
        lastInstances.delete(uid);
        metadata.forget(uid);
      }
      fingerprints.delete(namespace);
    },
    /**
     * Events that will never reach Restate (a full queue dropped them): the instances they
     * claimed count as unseen again, so the container's next event claims them.
     */
    release(events: readonly PodEvent[]): void {
      for (const event of events) {
        if (event.exitCode === null) continue;
        const containers = lastInstances.get(event.podUID);
        const seenUpTo = containers?.get(event.container);
        if (!containers || seenUpTo === undefined) continue;
        containers.set(
          event.container,
          Math.min(seenUpTo, event.restartCount - event.suppressed - 1),
        );
      }
    },
    tick(): void {
      const nowMs = deps.now();
      for (const event of deduper.drainExpired(nowMs)) deps.batcher.add(event);
    },
    evictExpired(): void {
      metadata.evictExpired(deps.now());
    },
    drainFolded(): void {
      for (const event of deduper.drainAll()) deps.batcher.add(event);
    },
    configure(config: WatcherConfig): void {
      // An excluded namespace's pods were skipped without a fingerprint: let them be seen again.
      lineFilter.reset();
      reasons = new Set(config.detection.reasons);
      excluded = new Set(config.namespaces.exclude);
      deduper.configure(config.dedup.cooldownS * 1000);
      metadata.configure(config.metadataCache);
    },
    idle: () => pendingResolutions === 0,
    stats: () => ({
      pods: [...fingerprints.values()].reduce((sum, scope) => sum + scope.size, 0),
      occurrences: seen.size,
      metadata: metadata.size,
      signatures: deduper.size,
    }),
  };
}

export type PodPipeline = ReturnType<typeof createPodPipeline>;
