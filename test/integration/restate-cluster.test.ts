import { CoreV1Api } from "@kubernetes/client-node";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createLogger } from "../../src/logging.ts";
import { createWatcherMetrics } from "../../watcher/metrics.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWatcher, type Watcher } from "../../watcher/watcher.ts";
import type { IncidentState } from "../../workflows/incident.object.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { eventually } from "../harness/eventually.ts";
import {
  SCENARIO_ANNOTATION,
  startFakeKubelet,
  type FakeKubelet,
} from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestateCluster, type RestateClusterHarness } from "../harness/restate-cluster.ts";
import { setConfig } from "./watcher-helpers.ts";

const PODS = 12;
const CRASHES = 4;
let kube: KubeCluster;
let kubelet: FakeKubelet;
let restate: RestateClusterHarness;
let evidenceDir: string;
let core: CoreV1Api;
const watchers: Watcher[] = [];

beforeAll(async () => {
  kube = await startKubeCluster();
  kubelet = await startFakeKubelet(kube, {
    nodes: ["node-a"],
    restartIntervalMs: 1200,
    maxRestarts: CRASHES,
  });
  evidenceDir = await mkdtemp(path.join(os.tmpdir(), "podmortem-cluster-evidence-"));
  restate = await startRestateCluster({
    nodes: 3,
    endpointReplicas: 2,
    services: createServices({
      kube: createKubeAccess(kube.kubeConfig()),
      store: createDirStore(evidenceDir),
      metrics: createWorkflowMetrics(),
      evidencePrefix: undefined,
      identity: "cluster-test",
      version: "test",
    }),
  });
  core = kube.kubeConfig().makeApiClient(CoreV1Api);
}, 180_000);

afterAll(async () => {
  for (const watcher of watchers) await watcher.stop(2000);
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await kube?.[Symbol.asyncDispose]();
});

type Row = Record<string, unknown>;

async function incidentsOf(cluster: string): Promise<IncidentState[]> {
  const rows = await restate.query<{ value_utf8: string }>(
    `SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND key = 'incident' AND service_key LIKE '${cluster}:%'`,
  );
  return rows.map((row) => JSON.parse(row.value_utf8) as IncidentState);
}

async function captureRuns(cluster: string): Promise<Row[]> {
  const rows = await restate.query<{ value_utf8: string; service_key: string }>(
    `SELECT service_key, value_utf8 FROM state WHERE service_name = 'Capture' AND key = 'status'`,
  );
  return rows
    .map((row) => JSON.parse(row.value_utf8) as Row)
    .filter((status) => status.cluster === cluster);
}

async function custodies(namespace: string): Promise<Array<{ captureId: string }>> {
  const found: Array<{ captureId: string }> = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name === "custody.json")
        found.push(JSON.parse(await readFile(full, "utf8")) as { captureId: string });
    }
  };
  await walk(evidenceDir);
  return found.filter((custody) => JSON.stringify(custody).includes(`"${namespace}"`));
}

async function startStorm(cluster: string, namespace: string): Promise<string[]> {
  await setConfig(restate, cluster, {
    batch: { flushIntervalMs: 200 },
    // Every termination sent as it happens: the counts checked here are Restate's, not the
    // watcher's folding.
    dedup: { cooldownS: 0 },
    namespaces: { mode: "list", list: [namespace] },
    capture: {
      steps: {
        snapshots: false,
        checkpoint: false,
        forensicPod: false,
        restartAfterSalvage: false,
      },
    },
  });
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const pods = Array.from({ length: PODS }, (_, i) => `bare-${i}`);
  for (const name of pods) {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, annotations: { [SCENARIO_ANNOTATION]: "crashloop" } },
        spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
      },
    });
  }
  const link = createRestateLink({
    ingressUrl: restate.ingressUrl,
    authToken: undefined,
    requestTimeoutMs: 10_000,
  });
  const watcher = createWatcher({
    kc: kube.kubeConfig(),
    link,
    log: createLogger({ name: `watcher-${cluster}`, level: "silent" }),
    metrics: createWatcherMetrics(),
    clusterName: cluster,
    identity: `watcher-${cluster}`,
    configPollIntervalMs: 500,
  });
  watchers.push(watcher);
  await watcher.start({
    clusterUID: `uid-${cluster}`,
    kubernetesVersion: "v1.20.2",
    watcherVersion: "test",
  });
  return pods;
}

/** Every pod's count equals the terminations its status shows, and stays there. */
async function expectExactCounts(cluster: string, namespace: string, pods: string[]) {
  await eventually(async () => {
    for (const pod of pods) expect(kubelet.restartCount(namespace, pod, "app")).toBe(CRASHES);
  }, 90_000);
  await kubelet.settle();
  const expected = Object.fromEntries(pods.map((pod) => [pod, CRASHES]));
  const counted = async () =>
    Object.fromEntries(
      (await incidentsOf(cluster))
        .filter((incident) => incident.namespace === namespace)
        .map((incident) => [incident.lastEvent.pod, incident.occurrences]),
    );
  await eventually(async () => expect(await counted()).toEqual(expected), 90_000);
  return counted;
}

describe("podmortem on a three-node Restate cluster", () => {
  it("answers on every node's ingress with the one registered endpoint", async () => {
    for (const node of restate.nodes) {
      const response = await fetch(`${node.ingressUrl}/Cluster/any-node/describe`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "null",
      });
      expect(response.status).toBe(200);
    }
    const deployments = await restate.query("SELECT id FROM sys_deployment");
    expect(deployments).toHaveLength(1);
  });

  it("loses one Restate node mid-storm: every capture once, counts exact, no evidence twice", async () => {
    const pods = await startStorm("loss", "loss");
    await eventually(
      async () => expect((await captureRuns("loss")).length).toBeGreaterThanOrEqual(PODS / 3),
      60_000,
    );
    const victim = restate.nodes[1]!;
    await victim.kill();
    expect(victim.running()).toBe(false);
    await expect(fetch(`${victim.ingressUrl}/restate/health`)).rejects.toThrow();

    const counted = await expectExactCounts("loss", "loss", pods);
    await victim.start();
    await eventually(async () => {
      const runs = await captureRuns("loss");
      expect(runs).toHaveLength(PODS);
      expect(runs.every((run) => run.phase !== "running")).toBe(true);
    }, 90_000);
    const captureIds = (await captureRuns("loss")).map((run) => run.captureId as string);
    const sealed = await custodies("loss");
    expect(sealed.map((custody) => custody.captureId).sort()).toEqual([...captureIds].sort());
    expect(new Set(sealed.map((custody) => custody.captureId)).size).toBe(sealed.length);

    // Barrier: one more crash of one pod must be counted; then every other count stays put.
    await kubelet.crashNow("loss", pods[0]!, "app");
    await eventually(async () => expect((await counted())[pods[0]!]).toBe(CRASHES + 1), 60_000);
    const after = await counted();
    for (const pod of pods.slice(1)) expect(after[pod]).toBe(CRASHES);
  });

  it("loses one of two workflows endpoint processes mid-storm and still captures each failure once", async () => {
    const pods = await startStorm("endpoint-loss", "endpoint-loss");
    await eventually(
      async () =>
        expect((await captureRuns("endpoint-loss")).length).toBeGreaterThanOrEqual(PODS / 3),
      60_000,
    );
    await restate.stopEndpoint(0);
    await expectExactCounts("endpoint-loss", "endpoint-loss", pods);
    await eventually(async () => {
      const runs = await captureRuns("endpoint-loss");
      expect(runs).toHaveLength(PODS);
      expect(runs.every((run) => run.phase !== "running")).toBe(true);
    }, 90_000);
    const sealed = await custodies("endpoint-loss");
    expect(sealed).toHaveLength(PODS);
    expect(new Set(sealed.map((custody) => custody.captureId)).size).toBe(PODS);
    await restate.startEndpoint(0);
  });
});
