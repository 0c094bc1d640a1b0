import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createLogger } from "../../src/logging.ts";
import { createWatcherMetrics } from "../../watcher/metrics.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWatcher } from "../../watcher/watcher.ts";
import type { IncidentState } from "../../workflows/incident.object.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster } from "../harness/kube-cluster.ts";
import { startRestate } from "../harness/restate-server.ts";
import { setConfig } from "../integration/watcher-helpers.ts";

/**
 * 1. Crash storm: a Deployment of 1,000 pods that all crash at once, through the real API
 *    server, watcher and restate-server: how many ingress requests, how many Captures.
 * 2. Detection latency: a container's terminated status written to the API server → the
 *    `Incident.record` for it done in Restate (its own clock), p50 and p99.
 */
const STORM_PODS = Number(process.env.STORM_PODS ?? 1000);
const LATENCY_SAMPLES = Number(process.env.LATENCY_SAMPLES ?? 60);
process.env.RESTATE_LOGGING ??= "ERROR";

const evidence = await mkdtemp(path.join(os.tmpdir(), "podmortem-bench-"));
await using cluster = await startKubeCluster({ controllerManager: true });
await using kubelet = await startFakeKubelet(cluster, {
  nodes: ["node-a", "node-b", "node-c"],
  restartIntervalMs: 20_000,
  maxRestarts: 1,
});
await using restate = await startRestate({
  services: createServices({
    kube: createKubeAccess(cluster.kubeConfig()),
    store: createDirStore(evidence),
    metrics: createWorkflowMetrics(),
    evidencePrefix: undefined,
    identity: "bench",
    version: "bench",
  }),
});
const link = createRestateLink({
  ingressUrl: restate.ingressUrl,
  authToken: undefined,
  requestTimeoutMs: 30_000,
});
let ingressRequests = 0;
const countingLink = {
  ...link,
  sendBatch: (events: Parameters<typeof link.sendBatch>[0]) => (
    (ingressRequests += 1),
    link.sendBatch(events)
  ),
};
const metrics = createWatcherMetrics();
const watcher = createWatcher({
  kc: cluster.kubeConfig(),
  link: countingLink,
  log: createLogger({ name: "bench", level: "silent" }),
  metrics,
  clusterName: "bench",
  identity: "bench",
  configPollIntervalMs: 500,
});
await watcher.start({ clusterUID: "bench", kubernetesVersion: "v1.20.2", watcherVersion: "bench" });
const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
await core.createNamespace({ body: { metadata: { name: "storm" } } });

const stormStarted = Date.now();
await cluster
  .kubeConfig()
  .makeApiClient(AppsV1Api)
  .createNamespacedDeployment({
    namespace: "storm",
    body: {
      metadata: { name: "checkout" },
      spec: {
        replicas: STORM_PODS,
        selector: { matchLabels: { app: "checkout" } },
        template: {
          metadata: {
            labels: { app: "checkout" },
            annotations: { "fake-kubelet/scenario": "crashloop" },
          },
          spec: { containers: [{ name: "app", image: "registry.example/checkout:1" }] },
        },
      },
    },
  });
const detected = async () =>
  (await metrics.events.get()).values
    .filter((v) => v.labels.type === "detected")
    .reduce((sum, v) => sum + v.value, 0);
await eventually(
  async () => {
    if ((await detected()) < STORM_PODS)
      throw new Error(`detected ${await detected()} of ${STORM_PODS}`);
  },
  600_000,
  1000,
);
const detectedAfterMs = Date.now() - stormStarted;
// What the cooldown folded is sent when it ends; the storm's own requests are what is counted.
await eventually(async () => {
  if (watcher.stats().queue > 0) throw new Error("queue not empty");
}, 60_000);
const captures = await eventually(async () => {
  const rows = await restate.query<{ n: number }>(
    "SELECT count(*) AS n FROM sys_invocation WHERE target_service_name = 'Capture' AND target_handler_name = 'run'",
  );
  return Number(rows[0]?.n ?? 0);
}, 30_000);
const stormIngress = ingressRequests;
const ingestInvocations = await restate.query<{ n: number }>(
  "SELECT count(*) AS n FROM sys_invocation WHERE target_service_name = 'Ingest'",
);

// Latency: one pod per workload so each crash is its own incident, crashed one at a time.
await setConfig(restate, "bench", {
  batch: { flushIntervalMs: Number(process.env.FLUSH_MS ?? 100) },
});
await eventually(async () => {
  if (watcher.config.batch.flushIntervalMs !== Number(process.env.FLUSH_MS ?? 100))
    throw new Error("config not applied");
}, 10_000);
await core.createNamespace({ body: { metadata: { name: "latency" } } });
for (let i = 0; i < LATENCY_SAMPLES; i += 1) {
  await core.createNamespacedPod({
    namespace: "latency",
    body: {
      metadata: { name: `p${i}` },
      spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
    },
  });
}
await eventually(async () => {
  const pods = await core.listNamespacedPod({ namespace: "latency" });
  const running = pods.items.filter((p) => p.status?.containerStatuses?.[0]?.state?.running).length;
  if (running < LATENCY_SAMPLES) throw new Error(`${running} running`);
}, 60_000);
const latencies: number[] = [];
for (let i = 0; i < LATENCY_SAMPLES; i += 1) {
  await kubelet.crashNow("latency", `p${i}`, "app", { exitCode: 2, reason: "Error" });
  const writtenAt = Date.now();
  const incident = await eventually(
    async () => {
      const rows = await restate.query<{ value_utf8: string }>(
        `SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND key = 'incident' AND value_utf8 LIKE '%"pod":"p${i}"%'`,
      );
      if (rows.length === 0) throw new Error("not yet");
      return JSON.parse(rows[0]!.value_utf8) as IncidentState;
    },
    20_000,
    20,
  );
  latencies.push(Date.parse(incident.lastSeenAt) - writtenAt);
}
latencies.sort((a, b) => a - b);
const percentile = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;

await watcher.stop(5000);
process.stdout.write(
  `${JSON.stringify({
    benchmark: "watcher-crash-storm-and-latency",
    storm: {
      pods: STORM_PODS,
      target: "<= 20 ingress requests, exactly 1 capture",
      ingressRequests: stormIngress,
      ingestInvocations: Number(ingestInvocations[0]?.n ?? 0),
      capturesStarted: captures,
      allDetectedAfterMs: detectedAfterMs,
      dedupFolded: (await metrics.deduped.get()).values[0]?.value ?? 0,
    },
    latency: {
      samples: latencies.length,
      flushIntervalMs: Number(process.env.FLUSH_MS ?? 100),
      p50Ms: percentile(50),
      p99Ms: percentile(99),
      maxMs: latencies.at(-1),
    },
  })}\n`,
);
// Captures may still be writing evidence; a leftover temp folder is no failure of the benchmark.
await rm(evidence, { recursive: true, force: true, maxRetries: 5 }).catch(() => undefined);
