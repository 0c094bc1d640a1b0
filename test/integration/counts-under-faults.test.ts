import { CoordinationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWorkflowMetrics, type WorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { makePodEvent } from "../fixtures/pod-events.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import type { ManagedProcess } from "../harness/processes.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { startWatcherProcess, type WatcherProcess } from "../harness/watcher-process.ts";
import { incidentsFor, setConfig, sleep } from "./watcher-helpers.ts";

// Every count here must equal the pods' own restartCount, whatever happened to the watcher.
// Crashes are driven one by one (crashNow, runNow) so each test knows exactly how many happened.
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let restate: RestateHarness;
let core: CoreV1Api;
let workflowMetrics: WorkflowMetrics;
const running = new Set<ManagedProcess>();
/** Expected against observed, per scenario, printed at the end for the record. */
const figures: Record<string, unknown> = {};

type Watcher = WatcherProcess;

async function startWatcher(
  clusterName: string,
  identity: string,
  env: Record<string, string> = {},
): Promise<Watcher> {
  const watcher = await startWatcherProcess({
    cluster,
    ingressUrl: restate.ingressUrl,
    clusterName,
    identity,
    env: {
      PODMORTEM_LEADER_ELECTION: "false",
      PODMORTEM_CONFIG_POLL_INTERVAL_MS: "1000",
      PODMORTEM_LOG_LEVEL: "info",
      ...env,
    },
  });
  running.add(watcher.process);
  return watcher;
}

async function ready(watcher: Watcher, timeoutMs = 30_000): Promise<void> {
  await eventually(
    async () => {
      expect(watcher.process.exited(), watcher.process.tail()).toBe(false);
      const answer = await fetch(`http://127.0.0.1:${watcher.port}/readyz`);
      expect(answer.status).toBe(200);
    },
    timeoutMs,
    200,
  );
}

async function metric(watcher: Watcher, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${watcher.port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || !line.includes(labels)) continue;
    if (line.slice(name.length, name.length + 1).match(/[ {]/))
      sum += Number(line.split(" ").pop());
  }
  return sum;
}

async function kill(watcher: Watcher, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  await watcher.process.stop(signal, 15_000);
  running.delete(watcher.process);
  // The fault happened: the process died of this very signal.
  if (signal === "SIGKILL") expect(watcher.process.child.signalCode).toBe("SIGKILL");
}

async function createPods(namespace: string, names: string[]): Promise<void> {
  for (const name of names)
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, annotations: { "fake-kubelet/scenario": "healthy" } },
        spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
      },
    });
  await eventually(async () => {
    for (const name of names) expect(kubelet.restartCount(namespace, name, "app")).toBe(0);
  }, 20_000);
}

/** One termination (exit 1) and the restart after it, as the API server sees them. */
async function crash(namespace: string, pods: string[], times = 1): Promise<void> {
  for (let i = 0; i < times; i += 1) {
    await Promise.all(
      pods.map(async (pod) => {
        await kubelet.crashNow(namespace, pod, "app");
        await kubelet.runNow(namespace, pod, "app");
      }),
    );
  }
}

async function prepare(clusterName: string, namespace: string, cooldownS = 300): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  // The default dedup cooldown (300 s): repeats stay folded in the watcher's memory.
  await setConfig(restate, clusterName, {
    dedup: { cooldownS },
    namespaces: { mode: "list", list: [namespace] },
    batch: { flushIntervalMs: 100 },
    capture: { steps: { evidence: false, snapshots: false, forensicPod: false } },
  });
}

/**
 * Every pod's count equals its real terminations, and stays so: a barrier pod crashed after
 * everything else must be counted before the counts are read a second time.
 */
async function expectExact(clusterName: string, namespace: string, pods: string[]) {
  const observed = async () => {
    const found = await incidentsFor(restate, clusterName, namespace);
    return Object.fromEntries(
      pods.map((pod) => [pod, found.find((i) => i.lastEvent.pod === pod)?.occurrences ?? 0]),
    );
  };
  const expected = () =>
    Object.fromEntries(pods.map((pod) => [pod, kubelet.restartCount(namespace, pod, "app")]));
  await eventually(async () => expect(await observed()).toEqual(expected()), 45_000, 300);
  const barrier = `barrier-${Date.now()}`;
  await createPods(namespace, [barrier]);
  await crash(namespace, [barrier]);
  await eventually(async () => {
    const [incident] = await incidentsFor(restate, clusterName, namespace, barrier);
    expect(incident?.occurrences).toBe(1);
  }, 30_000);
  const after = await observed();
  expect(after).toEqual(expected());
  // One capture per incident (per bare pod here), however often its events came.
  const all = await incidentsFor(restate, clusterName, namespace);
  for (const incident of all) expect(incident.captures).toBe(1);
  // forensics_crashes_total says the same as the incidents: terminations, each once.
  const crashes = (await workflowMetrics.crashes.get()).values
    .filter((v) => v.labels.namespace === namespace)
    .reduce((sum, v) => sum + v.value, 0);
  expect(crashes).toBe(all.reduce((sum, incident) => sum + incident.occurrences, 0));
  return { expected: expected(), observed: after };
}

beforeAll(async () => {
  // No watch cache: a watch resumed from a version etcd compacted is refused (410), as it is
  // for a watch cache that has moved on; that is the path the frozen-watcher test needs.
  cluster = await startKubeCluster({ watchCache: false });
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  kubelet = await startFakeKubelet(cluster, { nodes: ["node-a"] });
  await core.createNamespace({ body: { metadata: { name: "podmortem" } } });
  restate = await startRestate({
    services: createServices({
      kube: createKubeAccess(cluster.kubeConfig()),
      store: createDirStore(await mkdtemp(path.join(os.tmpdir(), "podmortem-faults-"))),
      metrics: (workflowMetrics = createWorkflowMetrics()),
      evidencePrefix: undefined,
      identity: "test",
      version: "test",
    }),
  });
}, 180_000);

afterAll(async () => {
  for (const proc of running) await proc.stop("SIGKILL");
  console.log(JSON.stringify({ countsUnderFaults: figures }, null, 2));
  if (process.env.H4_KEEP_LOGS)
    (await import("node:fs")).cpSync(cluster.tempDir, "/tmp/h4-logs", { recursive: true });
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
});

describe("counts under faults, against the real API server and restate-server", () => {
  it("counts every termination after a watcher SIGKILL, a first sighting at restartCount 4, and Restate down then SIGKILL", async () => {
    await prepare("faults", "faults");
    const pods = ["a", "b", "c"];
    await createPods("faults", pods);
    const first = await startWatcher("faults", "faults-1");
    await ready(first);
    await crash("faults", pods, 2);
    // The first crash of each is sent, the second folded in memory (cooldown 300 s).
    await eventually(async () => {
      expect(await incidentsFor(restate, "faults", "faults")).toHaveLength(3);
      expect(await metric(first, "forensics_watcher_events_deduped_total")).toBe(3);
    }, 30_000);
    await kill(first);

    await crash("faults", pods, 1);
    // A pod no watcher has seen, at restartCount 4 when one first looks.
    await createPods("faults", ["late"]);
    await crash("faults", ["late"], 4);
    const second = await startWatcher("faults", "faults-2");
    await ready(second);
    figures.watcherSigkill = await expectExact("faults", "faults", [...pods, "late"]);

    // Restate goes down; the watcher queues a new pod's first event and folds repeats, then dies.
    const foldedBefore = await metric(second, "forensics_watcher_events_deduped_total");
    await restate.stopServer("SIGKILL");
    await createPods("faults", ["queued"]);
    await crash("faults", ["queued"], 2);
    await crash("faults", pods, 2);
    await eventually(async () => {
      expect(
        await metric(second, "forensics_watcher_batches_sent_total", 'outcome="error"'),
      ).toBeGreaterThan(0);
      expect(await metric(second, "forensics_watcher_events_deduped_total")).toBe(foldedBefore + 7);
    }, 30_000);
    expect(await metric(second, "forensics_watcher_queue_depth")).toBeGreaterThan(0);
    await kill(second);
    await restate.startServer();
    const third = await startWatcher("faults", "faults-3");
    await ready(third);
    figures.restateDownThenSigkill = await expectExact("faults", "faults", [
      ...pods,
      "late",
      "queued",
    ]);
    await kill(third, "SIGTERM");
  }, 180_000);

  it("counts exactly through a leader's SIGKILL in the middle of a storm (election on)", async () => {
    await prepare("failover", "failover");
    const pods = Array.from({ length: 6 }, (_, i) => `p${i}`);
    await createPods("failover", pods);
    const election = {
      PODMORTEM_LEADER_ELECTION: "true",
      PODMORTEM_LEASE_NAMESPACE: "podmortem",
      PODMORTEM_LEASE_NAME: "failover",
      PODMORTEM_LEASE_DURATION_S: "4",
      PODMORTEM_RENEW_DEADLINE_S: "3",
      PODMORTEM_RETRY_PERIOD_S: "0.5",
    };
    const replicas = [
      await startWatcher("failover", "failover-1", election),
      await startWatcher("failover", "failover-2", election),
    ];
    for (const replica of replicas) await ready(replica);
    const holder = async () =>
      (
        await cluster
          .kubeConfig()
          .makeApiClient(CoordinationV1Api)
          .readNamespacedLease({ name: "failover", namespace: "podmortem" })
      ).spec?.holderIdentity;
    const leader = await eventually(async () => {
      const identity = await holder();
      expect(identity).toMatch(/^failover-[12]$/);
      return replicas.find((r) => r.identity === identity)!;
    }, 20_000);
    const follower = replicas.find((r) => r !== leader)!;

    let takeover: Promise<number> | undefined;
    for (let round = 0; round < 8; round += 1) {
      await crash("failover", pods);
      if (round === 3) {
        await kill(leader);
        const killedAtMs = Date.now();
        takeover = (async () => {
          while ((await holder()) !== follower.identity) await sleep(100);
          return Date.now() - killedAtMs;
        })();
      }
      await sleep(400);
    }
    const takeoverMs = await Promise.race([takeover!, sleep(20_000).then(() => -1)]);
    expect(takeoverMs).toBeGreaterThan(0);
    figures.leaderSigkill = {
      ...(await expectExact("failover", "failover", pods)),
      takeoverMs,
    };
    await kill(follower, "SIGTERM");
  }, 180_000);

  it("counts exactly with two replicas and no election, the second started mid-storm", async () => {
    // A short cooldown: what this proves is that two replicas never double a count; with the
    // 300 s default the last repeats would wait in both replicas' windows for five minutes.
    await prepare("twins", "twins", 2);
    const pods = Array.from({ length: 6 }, (_, i) => `t${i}`);
    await createPods("twins", pods);
    const first = await startWatcher("twins", "twins-1");
    await ready(first);
    let second: Watcher | undefined;
    for (let round = 0; round < 8; round += 1) {
      await crash("twins", pods);
      if (round === 3) second = await startWatcher("twins", "twins-2");
      await sleep(300);
    }
    await ready(second!);
    figures.twoReplicasNoElection = await expectExact("twins", "twins", pods);
    // Both replicas really reported: the second is no idle bystander.
    expect(await metric(second!, "forensics_watcher_events_total", 'type="sent"')).toBeGreaterThan(
      0,
    );
    await kill(first, "SIGTERM");
    await kill(second!, "SIGTERM");
  }, 180_000);

  it("relists after etcd is compacted while the watcher is frozen, exact and without a second capture", async () => {
    // A cooldown of 0: folded repeats would wait out 300 s in this one process; here what is
    // tested is the relist, not the fold.
    await prepare("frozen", "frozen", 0);
    const pods = Array.from({ length: 5 }, (_, i) => `f${i}`);
    await createPods("frozen", pods);
    const watcher = await startWatcher("frozen", "frozen-1");
    await ready(watcher);
    await crash("frozen", pods, 1);
    await eventually(
      async () => expect(await incidentsFor(restate, "frozen", "frozen")).toHaveLength(5),
      30_000,
    );

    expect(watcher.process.child.kill("SIGSTOP")).toBe(true);
    // While it cannot read: pods change, the API server restarts (its watch ends), more pods
    // change, and etcd is compacted past everything the watcher has seen.
    await crash("frozen", pods, 2);
    await cluster.restartApiServer();
    await crash("frozen", pods, 2);
    const merge = (await import("@kubernetes/client-node")).setHeaderOptions(
      "Content-Type",
      "application/merge-patch+json",
    );
    for (let i = 0; i < 50; i += 1)
      await core.patchNamespacedPod(
        { name: "f0", namespace: "frozen", body: { metadata: { annotations: { churn: `${i}` } } } },
        merge,
      );
    const range = (await (
      await fetch(`${cluster.etcdUrl}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key: "AA==" }),
      })
    ).json()) as { header: { revision: string } };
    const compacted = await fetch(`${cluster.etcdUrl}/v3/kv/compaction`, {
      method: "POST",
      body: JSON.stringify({ revision: range.header.revision, physical: true }),
    });
    expect(compacted.status).toBe(200);
    expect(watcher.process.child.kill("SIGCONT")).toBe(true);

    figures.compactionWhileFrozen = {
      ...(await expectExact("frozen", "frozen", pods)),
      compactedAtRevision: Number(range.header.revision),
    };
    // The fault happened: the watch's version was gone and the watcher relisted.
    expect(watcher.process.tail(200_000)).toContain("relisting");
    await kill(watcher, "SIGTERM");
  }, 180_000);

  it("forgets an incident and its sink's state idle for their configured windows, and keeps an active one", async () => {
    const clusterName = "idle";
    await setConfig(restate, clusterName, {
      capture: {
        rateLimitWindowS: 1,
        forgetAfterIdleWindows: 2,
        steps: { evidence: false, snapshots: false, forensicPod: false },
      },
      // A sink whose Secret is missing: each delivery fails at once, but its Notifier keeps state.
      notifications: {
        sinks: [
          {
            name: "nowhere",
            type: "webhook",
            urlSecretRef: { name: "no-such-secret", key: "url" },
            events: ["detected"],
            rateLimitS: 1,
          },
        ],
      },
    });
    const link = createRestateLink({
      ingressUrl: restate.ingressUrl,
      authToken: undefined,
      requestTimeoutMs: 10_000,
    });
    await link.enroll(clusterName, {
      clusterUID: "idle-uid",
      kubernetesVersion: "v1.20.2",
      watcherVersion: "test",
      watcherIdentity: "test",
      capabilities: [],
    });
    const active = (restartCount: number) =>
      makePodEvent({ cluster: clusterName, namespace: "idle", podUID: "active", restartCount });
    const quiet = makePodEvent({
      cluster: clusterName,
      namespace: "idle",
      podUID: "quiet",
      workload: { kind: "Deployment", name: "quiet" },
    });
    const state = async (signature: string) => {
      const rows = await restate.query<{ value_utf8: string }>(
        `SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND service_key = '${clusterName}:${signature}' AND key = 'incident'`,
      );
      return rows[0] ? (JSON.parse(rows[0].value_utf8) as { idleCheckAtMs: number }) : undefined;
    };
    const notifierState = async (signature: string) =>
      restate.query<{ key: string }>(
        `SELECT key FROM state WHERE service_name = 'Notifier' AND service_key = '${clusterName}:nowhere:${signature}'`,
      );
    await link.sendBatch([active(0), quiet]);
    const firstCheck = await eventually(async () => {
      const found = await state(active(0).signature);
      expect(found?.idleCheckAtMs).toBeGreaterThan(0);
      expect(await state(quiet.signature)).toBeDefined();
      expect((await notifierState(quiet.signature)).map((row) => row.key)).toContain("activeAtMs");
      return found!.idleCheckAtMs;
    }, 20_000);
    // Active past its first check (2 s): the check ran, found it active, and checks again later.
    for (let r = 1; r <= 8; r += 1) {
      await link.sendBatch([active(r)]);
      await sleep(400);
    }
    await eventually(async () => {
      // The quiet one is gone, the active one is still here, its check moved on.
      expect(await state(quiet.signature)).toBeUndefined();
      expect(await notifierState(quiet.signature)).toEqual([]);
      expect((await state(active(0).signature))?.idleCheckAtMs).toBeGreaterThan(firstCheck);
    }, 20_000);
    await eventually(async () => expect(await state(active(0).signature)).toBeUndefined(), 20_000);
  }, 120_000);
});
