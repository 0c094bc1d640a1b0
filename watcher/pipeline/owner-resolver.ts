import type { V1OwnerReference, V1Pod } from "@kubernetes/client-node";

import type { WorkloadRef } from "../../src/model/pod-event.ts";
import { inferWorkload } from "./workload.ts";

export const OPT_OUT_ANNOTATION = "forensic.io/capture";

type OwnerRecord = {
  kind: string;
  name: string;
  optOut: boolean;
  owner: V1OwnerReference | undefined;
  expiresAtMs: number;
};

export type Resolution = { workload: WorkloadRef; optOut: boolean };

export type FetchOwner = (ref: V1OwnerReference, namespace: string) => Promise<unknown>;

/** Kinds whose own controller is the workload people name: a Deployment's ReplicaSet, a CronJob's Job. */
const INTERMEDIATE_KINDS = new Set(["ReplicaSet", "Job"]);

function controllerOf(metadata: { ownerReferences?: V1OwnerReference[] } | undefined) {
  const refs = metadata?.ownerReferences ?? [];
  return refs.find((ref) => ref.controller) ?? refs[0];
}

function isOptedOut(annotations: Record<string, string> | undefined): boolean {
  return annotations?.[OPT_OUT_ANNOTATION]?.toLowerCase() === "false";
}

/** The default of PODMORTEM_OWNER_CACHE_TTL_S: an opt-out on a Deployment applies within it. */
export const DEFAULT_OWNER_CACHE_TTL_MS = 60_000;

/**
 * The top owner of a pod, through its controller references, at most two levels up
 * (Pod → ReplicaSet → Deployment, Pod → Job → CronJob), with the opt-out annotation looked up
 * on each level. Owners are cached by uid, so a crash storm of one workload costs two reads.
 */
export function createOwnerResolver(
  fetchOwner: FetchOwner,
  options: { ttlMs?: number; maxEntries?: number } = {},
) {
  const ttlMs = options.ttlMs ?? DEFAULT_OWNER_CACHE_TTL_MS;
  const maxEntries = options.maxEntries ?? 50_000;
  const cache = new Map<string, OwnerRecord>();
  const inFlight = new Map<string, Promise<OwnerRecord | undefined>>();

  async function lookup(
    ref: V1OwnerReference,
    namespace: string,
    nowMs: number,
  ): Promise<OwnerRecord | undefined> {
    const cached = cache.get(ref.uid);
    if (cached && cached.expiresAtMs > nowMs) return cached;
    const pending = inFlight.get(ref.uid);
    if (pending) return pending;
    const request = (async () => {
      const raw = (await fetchOwner(ref, namespace)) as
        | {
            metadata?: {
              name?: string;
              annotations?: Record<string, string>;
              ownerReferences?: V1OwnerReference[];
            };
          }
        | undefined;
      if (!raw) return undefined;
      const record: OwnerRecord = {
        kind: ref.kind,
        name: raw.metadata?.name ?? ref.name,
        optOut: isOptedOut(raw.metadata?.annotations),
        owner: controllerOf(raw.metadata),
        expiresAtMs: nowMs + ttlMs,
      };
      cache.set(ref.uid, record);
      if (cache.size > maxEntries) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
      return record;
    })().finally(() => inFlight.delete(ref.uid));
    inFlight.set(ref.uid, request);
    return request;
  }

  return {
    /** The answer without I/O when every owner on the way is cached; undefined otherwise. */
    cached(pod: V1Pod, nowMs: number): Resolution | undefined {
      const podOptOut = isOptedOut(pod.metadata?.annotations);
      const ref = controllerOf(pod.metadata);
      if (!ref)
        return { workload: { kind: "Pod", name: pod.metadata?.name ?? "" }, optOut: podOptOut };
      const first = cache.get(ref.uid);
      if (!first || first.expiresAtMs <= nowMs) return undefined;
      if (!first.owner || !INTERMEDIATE_KINDS.has(first.kind)) {
        return {
          workload: { kind: first.kind, name: first.name },
          optOut: podOptOut || first.optOut,
        };
      }
      const second = cache.get(first.owner.uid);
      if (!second || second.expiresAtMs <= nowMs) return undefined;
      return {
        workload: { kind: second.kind, name: second.name },
        optOut: podOptOut || first.optOut || second.optOut,
      };
    },
    async resolve(pod: V1Pod, nowMs: number): Promise<Resolution> {
      const podOptOut = isOptedOut(pod.metadata?.annotations);
      const namespace = pod.metadata?.namespace ?? "default";
      const ref = controllerOf(pod.metadata);
      if (!ref)
        return { workload: { kind: "Pod", name: pod.metadata?.name ?? "" }, optOut: podOptOut };
      let first: OwnerRecord | undefined;
      try {
        first = await lookup(ref, namespace, nowMs);
      } catch {
        return { workload: inferWorkload(pod), optOut: podOptOut };
      }
      if (!first) return { workload: { kind: ref.kind, name: ref.name }, optOut: podOptOut };
      const optOut = podOptOut || first.optOut;
      if (!first.owner || !INTERMEDIATE_KINDS.has(first.kind)) {
        return { workload: { kind: first.kind, name: first.name }, optOut };
      }
      let second: OwnerRecord | undefined;
      try {
        second = await lookup(first.owner, namespace, nowMs);
      } catch {
        second = undefined;
      }
      const top = second ?? { kind: first.owner.kind, name: first.owner.name, optOut: false };
      return { workload: { kind: top.kind, name: top.name }, optOut: optOut || top.optOut };
    },
    get size() {
      return cache.size;
    },
  };
}

export type OwnerResolver = ReturnType<typeof createOwnerResolver>;
