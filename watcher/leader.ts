import {
  CoordinationV1Api,
  Observable,
  V1MicroTime,
  type ConfigurationOptions,
  type KubeConfig,
  type RequestContext,
  type ResponseContext,
  type V1Lease,
} from "@kubernetes/client-node";

import { kubeHttpFor } from "../src/k8s/kube-http.ts";
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

/**
 * Called when leadership starts or ends. They must not block: the elector goes on renewing
 * while the watcher starts or stops its watches (a first list of 100k pods takes longer than
 * a lease lasts).
 */
export type LeaderCallbacks = {
  onStartedLeading(): void;
  onStoppedLeading(): void;
};

/** Bounds one API call: a leader whose renewal hangs must still step down on time. */
function withDeadline(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context: RequestContext) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: "append",
  };
}

/**
 * Lease-based leader election with client-go's semantics: a candidate takes the lease only when
 * the holder has not renewed it for leaseDuration as measured on the candidate's own clock since
 * it last saw the record change (so clock skew between nodes does not matter); the leader renews
 * every retryPeriod and steps down when it could not renew for renewDeadline, even when a call
 * hangs (each round is bounded by what is left of the deadline). Every write is guarded by the
 * resourceVersion it read, so two candidates never both win.
 */
export function createLeaderElector(
  kc: KubeConfig,
  settings: LeaderElectionSettings,
  callbacks: LeaderCallbacks,
  log: Logger,
  now: () => number = Date.now,
) {
  const api = kubeHttpFor(kc).apiClient(CoordinationV1Api);
  const renewDeadlineMs = settings.renewDeadlineS * 1000;
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

  async function tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const bounded = withDeadline(signal);
    const key = { name: settings.name, namespace: settings.namespace };
    let lease: V1Lease | undefined;
    try {
      lease = await api.readNamespacedLease(key, bounded);
    } catch (error) {
      if (kubeStatusOf(error) !== 404) throw error;
    }
    if (!lease) {
      await api.createNamespacedLease(
        {
          namespace: settings.namespace,
          body: { metadata: key, spec: desired(undefined) },
        },
        bounded,
      );
      return true;
    }
    const record = recordOf(lease);
    if (observed?.record !== record) observed = { record, atMs: now() };
    const holder = lease.spec?.holderIdentity ?? "";
    const durationMs = (lease.spec?.leaseDurationSeconds ?? settings.leaseDurationS) * 1000;
    if (holder !== "" && holder !== settings.identity && observed.atMs + durationMs > now())
      return false;
    // metadata carries the resourceVersion read: a concurrent writer makes this a 409.
    await api.replaceNamespacedLease(
      { ...key, body: { metadata: { ...lease.metadata, ...key }, spec: desired(lease) } },
      bounded,
    );
    return true;
  }

  function stepDown(why: string): void {
    if (!leading) return;
    leading = false;
    log.warn({ identity: settings.identity, why }, "lost the lease: stepping down");
    callbacks.onStoppedLeading();
  }

  async function round(): Promise<void> {
    if (stopped) return;
    // A leader's round may last only until its renew deadline; a candidate's one retry period
    // at least, as client-go bounds a call.
    const budgetMs = leading
      ? lastRenewMs + renewDeadlineMs - now()
      : Math.max(renewDeadlineMs, settings.retryPeriodS * 1000);
    if (budgetMs <= 0) {
      stepDown("renew deadline passed");
      return;
    }
    const deadline = new AbortController();
    const deadlineTimer = setTimeout(() => deadline.abort(), budgetMs);
    let acquired = false;
    try {
      acquired = await tryAcquireOrRenew(deadline.signal);
    } catch (error) {
      if (kubeStatusOf(error) !== 409) log.warn({ err: error }, "lease update failed");
    } finally {
      clearTimeout(deadlineTimer);
    }
    if (stopped) return;
    if (acquired) {
      lastRenewMs = now();
      if (!leading) {
        leading = true;
        log.info({ identity: settings.identity }, "became leader");
        callbacks.onStartedLeading();
      }
    } else if (leading && now() - lastRenewMs >= renewDeadlineMs) {
      stepDown("could not renew within the renew deadline");
    }
  }

  function schedule(): void {
    if (stopped) return;
    // client-go: the leader renews every retryPeriod; candidates retry with jitter 1.2.
    const jitter = leading ? 1 : 1 + Math.random() * 0.2;
    timer = setTimeout(
      () => {
        loop = round().finally(schedule);
      },
      settings.retryPeriodS * 1000 * jitter,
    );
  }

  return {
    /** Resolves after the first attempt: leading or standing by, the loop goes on. */
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
      callbacks.onStoppedLeading();
      try {
        const signal = AbortSignal.timeout(renewDeadlineMs);
        const lease = await api.readNamespacedLease(
          { name: settings.name, namespace: settings.namespace },
          withDeadline(signal),
        );
        if (lease.spec?.holderIdentity !== settings.identity) return;
        await api.replaceNamespacedLease(
          {
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
          },
          withDeadline(signal),
        );
        log.info({ identity: settings.identity }, "released the lease");
      } catch (err) {
        log.warn({ err }, "could not release the lease; it expires on its own");
      }
    },
  };
}

export type LeaderElector = ReturnType<typeof createLeaderElector>;
