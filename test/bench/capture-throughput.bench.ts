import { CoreV1Api } from "@kubernetes/client-node";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import type { CaptureStatus } from "../../workflows/capture.workflow.ts";
import type { IncidentState } from "../../workflows/incident.object.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { makePodEvent } from "../fixtures/pod-events.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster } from "../harness/kube-cluster.ts";
import { startRestate } from "../harness/restate-server.ts";
import { setConfig } from "../integration/watcher-helpers.ts";

/**
 * Captures per second the workflows service sustains with the real restate-server, the
 * evidence step only (logs through the API server from the fake kubelet, custody sealed), and
 * the time from `Incident.record` to the capture done, p50 and p99. N distinct failures arrive
 * in one batch, so every one starts its own Capture.
 */
const CAPTURES = Number(process.env.CAPTURES ?? 200);
/** Then this many more, one at a time: the latency of a capture that does not queue. */
const SINGLES = Number(process.env.SINGLES ?? 30);
const TOTAL = CAPTURES + SINGLES;
const evidence = await mkdtemp(path.join(os.tmpdir(), "podmortem-bench-captures-"));
await using cluster = await startKubeCluster();
await using kubelet = await startFakeKubelet(cluster, { nodes: ["node-a", "node-b"] });
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
await setConfig(restate, "bench", { capture: { steps: { snapshots: false, forensicPod: false } } });
const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
await core.createNamespace({ body: { metadata: { name: "load" } } });
for (let i = 0; i < TOTAL; i += 1) {
  await core.createNamespacedPod({
    namespace: "load",
    body: {
      metadata: { name: `svc-${i}` },
      spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
    },
  });
}
await eventually(
  async () => {
    const pods = await core.listNamespacedPod({ namespace: "load" });
    const running = pods.items.filter(
      (p) => p.status?.containerStatuses?.[0]?.state?.running,
    ).length;
    if (running < TOTAL) throw new Error(`${running} running`);
  },
  120_000,
  500,
);
const events = [];
for (let i = 0; i < TOTAL; i += 1) {
  await kubelet.crashNow("load", `svc-${i}`, "app", { exitCode: 3, reason: "Error" });
  const pod = await core.readNamespacedPod({ name: `svc-${i}`, namespace: "load" });
  events.push(
    makePodEvent({
      cluster: "bench",
      namespace: "load",
      pod: `svc-${i}`,
      podUID: pod.metadata!.uid!,
      workload: { kind: "Pod", name: `svc-${i}` },
      restartCount: 0,
    }),
  );
}

const link = createRestateLink({
  ingressUrl: restate.ingressUrl,
  authToken: undefined,
  requestTimeoutMs: 60_000,
});
const started = Date.now();
const burst = events.slice(0, CAPTURES);
for (let from = 0; from < burst.length; from += 200)
  await link.sendBatch(burst.slice(from, from + 200));
async function finishedCaptures(count: number): Promise<CaptureStatus[]> {
  return eventually(
    async () => {
      const rows = await restate.query<{ value_utf8: string }>(
        "SELECT value_utf8 FROM state WHERE service_name = 'Capture' AND key = 'status'",
      );
      const done = rows
        .map((r) => JSON.parse(r.value_utf8) as CaptureStatus)
        .filter((s) => s.phase !== "running");
      if (done.length < count) throw new Error(`${done.length} done`);
      return done;
    },
    600_000,
    50,
  );
}

/** Incident.record's own clock (lastSeenAt) to the capture's finishedAt, sorted. */
async function recordToDoneMs(statuses: CaptureStatus[]): Promise<number[]> {
  const incidents = (
    await restate.query<{ value_utf8: string }>(
      "SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND key = 'incident'",
    )
  ).map((r) => JSON.parse(r.value_utf8) as IncidentState);
  const recordedAt = new Map(incidents.map((i) => [i.lastCaptureId, Date.parse(i.lastSeenAt)]));
  return statuses
    .map((s) => Date.parse(s.finishedAt!) - (recordedAt.get(s.captureId) ?? NaN))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

const statuses = await finishedCaptures(CAPTURES);
const lastDone = Math.max(...statuses.map((s) => Date.parse(s.finishedAt!)));
const latencies = await recordToDoneMs(statuses);

const singles = events.slice(CAPTURES);
for (const [index, event] of singles.entries()) {
  await link.sendBatch([event]);
  await finishedCaptures(CAPTURES + index + 1);
}
const all = await finishedCaptures(TOTAL);
const burstIds = new Set(statuses.map((s) => s.captureId));
const singleLatencies = await recordToDoneMs(all.filter((s) => !burstIds.has(s.captureId)));
await rm(evidence, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({
    benchmark: "capture-throughput",
    captures: CAPTURES,
    succeeded: statuses.filter((s) => s.phase === "succeeded").length,
    seconds: Number(((lastDone - started) / 1000).toFixed(2)),
    capturesPerSecond: Number((CAPTURES / ((lastDone - started) / 1000)).toFixed(1)),
    recordToDoneMs: {
      burst: {
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies.at(-1),
      },
      oneAtATime: {
        captures: singleLatencies.length,
        p50: percentile(singleLatencies, 50),
        p99: percentile(singleLatencies, 99),
        max: singleLatencies.at(-1),
      },
    },
    steps:
      "read pod, capture logs (crash.log + every container), manifest, events, node, seal custody",
  })}\n`,
);
