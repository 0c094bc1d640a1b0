import {
  CoordinationV1Api,
  V1MicroTime,
  type KubeConfig,
  type V1Lease,
} from "@kubernetes/client-node";

import { kubeStatusOf } from "../src/k8s/kube-errors.ts";
import type { Logger } from "../src/logging.ts";

export type LeaderElectionSettings = {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationS: number;
  renewDeadlineS: number;
  retryPeriodS: number;
};

export const CLIENT_GO_DEFAULTS = {
  leaseDurationS: 15,
  renewDeadlineS: 10,
  retryPeriodS: 2,
} as const;

export type LeaderCallbacks = {
  onStartedLeading(): void | Promise<void>;
  onStoppedLeading(): void | Promise<void>;
};

/**
 * Lease-based leader election with client-go's semantics: a candidate takes the lease only when
 * the holder has not renewed it for leaseDuration as measured on the candidate's own clock since
 * it last saw the record change (so clock skew between nodes does not matter); the leader renews
 * every retryPeriod and steps down when it could not renew for renewDeadline. Every write is
 * guarded by the resourceVersion it read, so two candidates never both win.
 */
export function createLeaderElector(
  kc: KubeConfig,
  settings: LeaderElectionSettings,
  callbacks: LeaderCallbacks,
  log: Logger,
  now: () => number = Date.now,
) {
  const api = kc.makeApiClient(CoordinationV1Api);
  let leading = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let observed: { record: string; atMs: number } | undefined;
  let lastRenewMs = 0;
  let loop: Promise<void> = Promise.resolve();

  // client-node hands MicroTime fields back as strings or Dates depending on the path: compare text.
  const timeText = (value: unknown) =>
    value instanceof Date ? value.toISOString() : typeof value === "string" ? value : "";
  const recordOf = (lease: V1Lease) =>
    `${lease.spec?.holderIdentity ?? ""}|${timeText(lease.spec?.renewTime)}|${lease.spec?.leaseTransitions ?? 0}`;

  function desired(previous: V1Lease | undefined): V1Lease["spec"] {
    const stamp = new V1MicroTime(now());
    const sameHolder = previous?.spec?.holderIdentity === settings.identity;
    return {
      holderIdentity: settings.identity,
      leaseDurationSeconds: settings.leaseDurationS,
      acquireTime: sameHolder ? previous?.spec?.acquireTime : stamp,
      renewTime: stamp,
      leaseTransitions: (previous?.spec?.leaseTransitions ?? 0) + (sameHolder || !previous ? 0 : 1),
    };
  }

  async function tryAcquireOrRenew(): Promise<boolean> {
    let lease: V1Lease | undefined;
    try {
      lease = await api.readNamespacedLease({ name: settings.name, namespace: settings.namespace });
    } catch (error) {
      if (kubeStatusOf(error) !== 404) throw error;
    }
    if (!lease) {
      await api.createNamespacedLease({
        namespace: settings.namespace,
        body: {
          metadata: { name: settings.name, namespace: settings.namespace },
          spec: desired(undefined),
        },
      });
      return true;
    }
    const record = recordOf(lease);
    if (observed?.record !== record) observed = { record, atMs: now() };
    const holder = lease.spec?.holderIdentity ?? "";
    const durationMs = (lease.spec?.leaseDurationSeconds ?? settings.leaseDurationS) * 1000;
    if (holder !== "" && holder !== settings.identity && observed.atMs + durationMs > now())
      return false;
    await api.replaceNamespacedLease({
      name: settings.name,
      namespace: settings.namespace,
      body: { metadata: { ...lease.metadata, name: settings.name }, spec: desired(lease) },
    });
    return true;
  }

  async function round(): Promise<void> {
    if (stopped) return;
    let acquired = false;
    try {
      acquired = await tryAcquireOrRenew();
    } catch (error) {
      if (kubeStatusOf(error) !== 409) log.warn({ err: error }, "lease update failed");
    }
    if (acquired) {
      lastRenewMs = now();
      if (!leading) {
        leading = true;
        log.info({ identity: settings.identity }, "became leader");
        await callbacks.onStartedLeading();
      }
    } else if (leading && now() - lastRenewMs > settings.renewDeadlineS * 1000) {
      leading = false;
      log.warn({ identity: settings.identity }, "lost the lease: stepping down");
      await callbacks.onStoppedLeading();
    }
  }

  function schedule(): void {
    if (stopped) return;
    const jitter = leading ? 1 : 1 + Math.random() * 0.2;
    timer = setTimeout(
      () => {
        loop = round().finally(schedule);
      },
      settings.retryPeriodS * 1000 * jitter,
    );
  }

  return {
    async start(): Promise<void> {
      loop = round().finally(schedule);
      await loop;
    },
    isLeader: () => leading,
    /** Steps down and releases the lease so a successor need not wait for it to expire. */
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await loop;
      if (!leading) return;
      leading = false;
      await callbacks.onStoppedLeading();
      try {
        const lease = await api.readNamespacedLease({
          name: settings.name,
          namespace: settings.namespace,
        });
        if (lease.spec?.holderIdentity !== settings.identity) return;
        await api.replaceNamespacedLease({
          name: settings.name,
          namespace: settings.namespace,
          body: {
            metadata: lease.metadata,
            spec: {
              ...lease.spec,
              holderIdentity: "",
              leaseDurationSeconds: 1,
              renewTime: new V1MicroTime(now()),
            },
          },
        });
      } catch (err) {
        log.warn({ err }, "could not release the lease; it expires on its own");
      }
    },
  };
}

export type LeaderElector = ReturnType<typeof createLeaderElector>;
