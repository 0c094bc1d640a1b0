import { CoordinationV1Api, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createLogger } from "../../src/logging.ts";
import { createLeaderElector, type LeaderElector } from "../../watcher/leader.ts";
import { eventually } from "../harness/eventually.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRelay, throughRelay } from "./watcher-helpers.ts";

const NAMESPACE = "podmortem";
const SETTINGS = { leaseDurationS: 4, renewDeadlineS: 3, retryPeriodS: 0.5 };
let cluster: KubeCluster;
const log = createLogger({ name: "leader-test", level: "silent" });

type Candidate = {
  elector: LeaderElector;
  /** [started, stopped) intervals of leadership, in ms. */
  terms: Array<{ startedAtMs: number; stoppedAtMs?: number }>;
};

function candidate(kc: KubeConfig, identity: string, lease: string): Candidate {
  const terms: Candidate["terms"] = [];
  const elector = createLeaderElector(
    kc,
    { namespace: NAMESPACE, name: lease, identity, ...SETTINGS },
    {
      onStartedLeading: () => void terms.push({ startedAtMs: Date.now() }),
      onStoppedLeading: () => {
        const term = terms.at(-1);
        if (term) term.stoppedAtMs = Date.now();
      },
    },
    log,
  );
  return { elector, terms };
}

async function holder(lease: string): Promise<string | undefined> {
  const found = await cluster
    .kubeConfig()
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ name: lease, namespace: NAMESPACE });
  return found.spec?.holderIdentity || undefined;
}

beforeAll(async () => {
  cluster = await startKubeCluster();
  await cluster
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: NAMESPACE } } });
}, 60_000);

afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
});

describe("Lease leader election", () => {
  it("hands over at once when the leader stops and releases the lease", async () => {
    const a = candidate(cluster.kubeConfig(), "a", "release");
    const b = candidate(cluster.kubeConfig(), "b", "release");
    await a.elector.start();
    await b.elector.start();
    expect(a.elector.isLeader()).toBe(true);
    expect(b.elector.isLeader()).toBe(false);
    const stoppedAt = Date.now();
    await a.elector.stop();
    await eventually(async () => expect(b.elector.isLeader()).toBe(true), 10_000, 50);
    // Well inside the 4 s lease: the released lease is taken on the next retry.
    expect(b.terms[0]!.startedAtMs - stoppedAt).toBeLessThan(SETTINGS.leaseDurationS * 1000);
    expect(a.terms[0]!.stoppedAtMs).toBeLessThanOrEqual(b.terms[0]!.startedAtMs);
    expect(await holder("release")).toBe("b");
    await b.elector.stop();
  });

  it("steps down within the renew deadline when its API calls hang, before anyone takes over", async () => {
    const relay = await startRelay(new URL(cluster.kubeConfig().getCurrentCluster()!.server));
    const a = candidate(throughRelay(cluster.kubeConfig(), relay.port), "a", "hang");
    const b = candidate(cluster.kubeConfig(), "b", "hang");
    await a.elector.start();
    await b.elector.start();
    expect(a.elector.isLeader()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // a few renewals

    const hungAt = Date.now();
    relay.swallow();
    await eventually(async () => expect(b.elector.isLeader()).toBe(true), 15_000, 50);
    const aTerm = a.terms[0]!;
    const bTerm = b.terms[0]!;
    expect(a.elector.isLeader()).toBe(false);
    expect(aTerm.stoppedAtMs).toBeDefined();
    // client-go: the leader gives up renewDeadline after its last renewal, however long a call
    // hangs; a follower waits leaseDuration from the last change it saw. Never two leaders.
    expect(aTerm.stoppedAtMs! - hungAt).toBeLessThanOrEqual(SETTINGS.renewDeadlineS * 1000 + 500);
    expect(aTerm.stoppedAtMs!).toBeLessThan(bTerm.startedAtMs);
    expect(await holder("hang")).toBe("b");
    relay.close();
    await a.elector.stop();
    await b.elector.stop();
  }, 30_000);
});
