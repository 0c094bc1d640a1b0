import { CoordinationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import type { ManagedProcess } from "../harness/processes.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { startWatcherProcess } from "../harness/watcher-process.ts";
import { incidentsFor, setConfig } from "./watcher-helpers.ts";

const CLUSTER = "ha";
const MAX_RESTARTS = 3;
const LEASE_DURATION_S = 4;
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let restate: RestateHarness;
const watchers = new Map<string, { process: ManagedProcess; port: number }>();

async function startReplica(identity: string) {
  const { process: proc, port } = await startWatcherProcess({
    cluster,
    ingressUrl: restate.ingressUrl,
    clusterName: CLUSTER,
    identity,
    env: {
      PODMORTEM_LEADER_ELECTION: "true",
      PODMORTEM_LEASE_NAMESPACE: "podmortem",
      PODMORTEM_LEASE_DURATION_S: String(LEASE_DURATION_S),
      PODMORTEM_RENEW_DEADLINE_S: "3",
      PODMORTEM_RETRY_PERIOD_S: "0.5",
      PODMORTEM_CONFIG_POLL_INTERVAL_MS: "500",
      PODMORTEM_LOG_LEVEL: process.env.HA_LOG_LEVEL ?? "warn",
    },
  });
  watchers.set(identity, { process: proc, port });
}

async function holder(): Promise<string | undefined> {
  const lease = await cluster
    .kubeConfig()
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ name: "podmortem-watcher", namespace: "podmortem" })
    .catch(() => undefined);
  return lease?.spec?.holderIdentity || undefined;
}

async function crashloop(namespace: string, name: string) {
  await cluster
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedPod({
      namespace,
      body: {
        metadata: { name, annotations: { "fake-kubelet/scenario": "crashloop" } },
        spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
      },
    });
}

beforeAll(async () => {
  cluster = await startKubeCluster();
  kubelet = await startFakeKubelet(cluster, {
    nodes: ["node-a"],
    restartIntervalMs: 700,
    maxRestarts: MAX_RESTARTS,
  });
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ["podmortem", "ha"])
    await core.createNamespace({ body: { metadata: { name } } });
  restate = await startRestate({
    services: createServices({
      kube: createKubeAccess(cluster.kubeConfig()),
      store: createDirStore(await mkdtemp(path.join(os.tmpdir(), "podmortem-ha-"))),
      metrics: createWorkflowMetrics(),
      evidencePrefix: undefined,
      identity: "test",
      version: "test",
    }),
  });
  await setConfig(restate, CLUSTER, { dedup: { cooldownS: 0 }, batch: { flushIntervalMs: 100 } });
  await startReplica("watcher-1");
  await startReplica("watcher-2");
}, 120_000);

afterAll(async () => {
  for (const { process } of watchers.values()) await process.stop("SIGTERM", 5000);
  if (process.env.HA_LOG_LEVEL) {
    const { cpSync } = await import("node:fs");
    for (const identity of watchers.keys())
      cpSync(path.join(cluster.tempDir, `${identity}.log`), `/tmp/${identity}.log`);
  }
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
});

describe("two watcher replicas", () => {
  it("elect one leader, hand over when it dies, and never count an occurrence twice", async () => {
    const first = await eventually(async () => {
      const identity = await holder();
      expect(identity).toMatch(/^watcher-[12]$/);
      return identity!;
    }, 30_000);
    for (const { port } of watchers.values()) {
      await eventually(
        async () => expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200),
        20_000,
      );
    }

    await crashloop("ha", "before");
    await eventually(async () => {
      const [incident] = await incidentsFor(restate, CLUSTER, "ha", "before");
      expect(incident?.occurrences).toBe(MAX_RESTARTS);
    }, 30_000);

    await watchers.get(first)!.process.stop("SIGKILL");
    // Crashes while no replica leads: nobody sees them, but the pod's restartCount proves them,
    // and the new leader's first sighting claims them. Counted exactly, never twice.
    await crashloop("ha", "during-handover");
    const second = await eventually(async () => {
      const identity = await holder();
      expect(identity).toBeDefined();
      expect(identity).not.toBe(first);
      return identity!;
    }, 20_000);
    await crashloop("ha", "after");
    await eventually(async () => {
      const [incident] = await incidentsFor(restate, CLUSTER, "ha", "after");
      expect(incident?.occurrences).toBe(MAX_RESTARTS);
    }, 30_000);
    await eventually(async () => {
      const [during] = await incidentsFor(restate, CLUSTER, "ha", "during-handover");
      expect(during?.occurrences).toBe(MAX_RESTARTS);
    }, 30_000);

    // The new leader relisted and saw the first pod's terminations again: still counted once.
    const [before] = await incidentsFor(restate, CLUSTER, "ha", "before");
    expect(before?.occurrences).toBe(MAX_RESTARTS);
    const metrics = await (
      await fetch(`http://127.0.0.1:${watchers.get(second)!.port}/metrics`)
    ).text();
    expect(metrics).toMatch(/forensics_watcher_events_total\{type="sent",reason="Error"\} [1-9]/);

    // A rolling update: the leader gets SIGTERM, flushes, releases the lease; a third replica
    // takes over well before the lease would have expired, and counts new crashes exactly.
    await startReplica("watcher-3");
    await eventually(
      async () =>
        expect(
          (await fetch(`http://127.0.0.1:${watchers.get("watcher-3")!.port}/readyz`)).status,
        ).toBe(200),
      20_000,
    );
    const terminatedAt = Date.now();
    await watchers.get(second)!.process.stop("SIGTERM", 15_000);
    await eventually(async () => expect(await holder()).toBe("watcher-3"), 10_000, 100);
    expect(Date.now() - terminatedAt).toBeLessThan(LEASE_DURATION_S * 1000);
    await crashloop("ha", "after-rollout");
    await eventually(async () => {
      const [incident] = await incidentsFor(restate, CLUSTER, "ha", "after-rollout");
      expect(incident?.occurrences).toBe(MAX_RESTARTS);
    }, 30_000);
    for (const pod of ["before", "after"]) {
      const [incident] = await incidentsFor(restate, CLUSTER, "ha", pod);
      expect(incident?.occurrences).toBe(MAX_RESTARTS);
    }
  }, 120_000);
});
