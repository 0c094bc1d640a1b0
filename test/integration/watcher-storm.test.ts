import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createLogger } from "../../src/logging.ts";
import { createWatcherMetrics, type WatcherMetrics } from "../../watcher/metrics.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWatcher, type Watcher } from "../../watcher/watcher.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { startTlsRelay, type TlsRelay } from "../harness/tls-relay.ts";
import { incidentsFor, setConfig } from "./watcher-helpers.ts";

const CLUSTER = "storm";
const REPLICAS = 100;
const COOLDOWN_S = 8;
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let restate: RestateHarness;
let watcher: Watcher;
let metrics: WatcherMetrics;
let ingressRequests = 0;
let relay: TlsRelay;

beforeAll(async () => {
  cluster = await startKubeCluster({ controllerManager: true });
  kubelet = await startFakeKubelet(cluster, {
    nodes: ["node-a", "node-b"],
    restartIntervalMs: 10_000,
    maxRestarts: 1,
  });
  restate = await startRestate({
    services: createServices({
      kube: createKubeAccess(cluster.kubeConfig()),
      store: createDirStore(await mkdtemp(path.join(os.tmpdir(), "podmortem-storm-"))),
      metrics: createWorkflowMetrics(),
      evidencePrefix: undefined,
      identity: "test",
      version: "test",
    }),
  });
  await setConfig(restate, CLUSTER, {
    dedup: { cooldownS: COOLDOWN_S },
    batch: { flushIntervalMs: 200 },
  });
  const link = createRestateLink({
    ingressUrl: restate.ingressUrl,
    authToken: undefined,
    requestTimeoutMs: 10_000,
  });
  metrics = createWatcherMetrics();
  // Every call of the watcher passes the relay, which counts the TLS sessions it accepts.
  relay = await startTlsRelay(cluster);
  watcher = createWatcher({
    kc: relay.kubeConfig(),
    link: {
      ...link,
      sendBatch: (events) => {
        ingressRequests += 1;
        return link.sendBatch(events);
      },
    },
    log: createLogger({ name: "watcher-storm", level: "silent" }),
    metrics,
    clusterName: CLUSTER,
    identity: "storm-watcher",
    configPollIntervalMs: 500,
  });
  await watcher.start({ clusterUID: "uid", kubernetesVersion: "v1.20.2", watcherVersion: "test" });
}, 120_000);

afterAll(async () => {
  await watcher?.stop(2000);
  await restate?.[Symbol.asyncDispose]();
  await relay?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
});

const detected = async () =>
  (await metrics.events.get()).values
    .filter((v) => v.labels.type === "detected")
    .reduce((sum, v) => sum + v.value, 0);

describe("a crash storm", () => {
  it("of one Deployment's pods makes a handful of requests and one capture, every crash counted", async () => {
    await cluster
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: "storm" } } });
    await cluster
      .kubeConfig()
      .makeApiClient(AppsV1Api)
      .createNamespacedDeployment({
        namespace: "storm",
        body: {
          metadata: { name: "checkout" },
          spec: {
            replicas: REPLICAS,
            selector: { matchLabels: { app: "checkout" } },
            template: {
              metadata: {
                labels: { app: "checkout", "project-id": "shop" },
                annotations: { "fake-kubelet/scenario": "crashloop" },
              },
              spec: { containers: [{ name: "app", image: "registry.example/checkout:1" }] },
            },
          },
        },
      });
    await eventually(async () => expect(await detected()).toBe(REPLICAS), 90_000, 500);
    const duringStorm = ingressRequests;
    expect(duringStorm).toBeGreaterThanOrEqual(1);
    expect(duringStorm).toBeLessThanOrEqual(5);

    // When the cooldown ends each folded pod's newest event arrives, all in a batch or two: they add up.
    const [incident] = await eventually(async () => {
      const found = await incidentsFor(restate, CLUSTER, "storm");
      expect(found).toHaveLength(1);
      expect(found[0]!.occurrences).toBe(REPLICAS);
      return found;
    }, 60_000);
    expect(incident!.lastEvent).toMatchObject({
      workload: { kind: "Deployment", name: "checkout" },
      projectId: "shop",
    });
    expect(ingressRequests).toBeLessThanOrEqual(duringStorm + 2);
    expect((await metrics.deduped.get()).values[0]?.value).toBe(REPLICAS - 1);
    const captures = await restate.query<{ n: number }>(
      "SELECT count(*) AS n FROM sys_invocation WHERE target_service_name = 'Capture' AND target_handler_name = 'run'",
    );
    expect(Number(captures[0]?.n)).toBe(1);
  }, 180_000);

  it("over many workloads costs the API server one TLS session, not one per owner lookup", async () => {
    const WORKLOADS = 20;
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: "wide" } } });
    const sessionsBefore = relay.sessions;
    const detectedBefore = await detected();
    await Promise.all(
      Array.from({ length: WORKLOADS }, (_, n) =>
        apps.createNamespacedDeployment({
          namespace: "wide",
          body: {
            metadata: { name: `service-${n}` },
            spec: {
              replicas: 1,
              selector: { matchLabels: { app: `service-${n}` } },
              template: {
                metadata: {
                  labels: { app: `service-${n}` },
                  annotations: { "fake-kubelet/scenario": "crashloop" },
                },
                spec: { containers: [{ name: "app", image: "registry.example/service:1" }] },
              },
            },
          },
        }),
      ),
    );
    // One incident per Deployment: each name was learned by looking up a ReplicaSet and then its
    // Deployment, 2 × WORKLOADS owner lookups, all made while the storm ran.
    const found = await eventually(async () => {
      const incidents = await incidentsFor(restate, CLUSTER, "wide");
      expect(incidents).toHaveLength(WORKLOADS);
      return incidents;
    }, 90_000);
    expect(new Set(found.map((incident) => incident.lastEvent.workload.name)).size).toBe(WORKLOADS);
    expect(found.every((incident) => incident.lastEvent.workload.kind === "Deployment")).toBe(true);
    expect((await detected()) - detectedBefore).toBeGreaterThanOrEqual(WORKLOADS);
    // The watch, the lists, the lookups and the lease all share one HTTP/2 connection.
    expect(relay.sessions - sessionsBefore).toBeLessThanOrEqual(1);
    expect(relay.sessions).toBeGreaterThanOrEqual(1);
    expect(relay.sessions).toBeLessThanOrEqual(3);
    expect(relay.protocols[0]).toBe("h2");
  }, 180_000);
});
