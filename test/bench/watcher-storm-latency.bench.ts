import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import os from "node:os";

import { createLogger } from "../../src/logging.ts";
import { createWatcherMetrics } from "../../watcher/metrics.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWatcher } from "../../watcher/watcher.ts";
import type { IncidentState } from "../../workflows/incident.object.ts";
import { startFakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster } from "../harness/kube-cluster.ts";
import { startS3 } from "../harness/s3-server.ts";

/**
 * A crash storm: STORM_WORKLOADS (default 100) Deployments, each owning a ReplicaSet of
 * STORM_PODS_PER_WORKLOAD (default 10) pods, all running under the fake kubelet; then every
 * container is terminated at once (exit 1, Error: 10 terminations per workload, one failure
 * signature per workload). The real watcher (list/watch, detection, dedup, batching) sends to a
 * real restate-server running the real workflows (Ingest, Incident, Capture with its default
 * steps, evidence into s3rver through the AWS SDK). Nothing is read until the system has
 * settled: every termination counted in an Incident, no invocation left pending, running,
 * backing off or suspended, the watcher's queue empty — or the run fails after
 * STORM_SETTLE_TIMEOUT_S saying what was missing.
 *
 * Full size: npm run bench -- watcher-storm   (STORM_WORKLOADS=100 STORM_PODS_PER_WORKLOAD=10)
 */
const WORKLOADS = Number(process.env.STORM_WORKLOADS ?? 100);
const PODS_PER_WORKLOAD = Number(process.env.STORM_PODS_PER_WORKLOAD ?? 10);
/**
 * The watcher folds repeats of a signature for this long and sends their count when it ends;
 * production's default is 300 s, which would only lengthen the wait for the same counts.
 */
const DEDUP_COOLDOWN_S = Number(process.env.STORM_DEDUP_COOLDOWN_S ?? 15);
const SETTLE_TIMEOUT_MS = Number(process.env.STORM_SETTLE_TIMEOUT_S ?? 300) * 1000;
const TERMINATIONS = WORKLOADS * PODS_PER_WORKLOAD;
const NAMESPACE = "storm";
const CLUSTER = "bench";
// The Restate SDK reads this once, when first imported: the modules that import it come after.
process.env.RESTATE_LOGGING ??= "ERROR";
const { captureServices } = await import("../harness/capture-fixture.ts");
const { startRestate } = await import("../harness/restate-server.ts");
const { setConfig } = await import("../integration/watcher-helpers.ts");
const loadBefore = os.loadavg();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null;
const workloadName = (w: number) => `svc-${String(w).padStart(3, "0")}`;

/** Runs the actions with at most `limit` at a time. */
async function inParallel<T>(items: T[], limit: number, action: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) await action(items[i]!);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

const cluster = await startKubeCluster();
const kubelet = await startFakeKubelet(cluster, {
  nodes: ["node-a", "node-b", "node-c"],
  // One termination per container: no restart within the run.
  restartIntervalMs: 3_600_000,
  maxRestarts: 0,
});
const s3 = await startS3();
const restate = await startRestate({ services: captureServices(cluster.kubeConfig(), s3) });
const query = <T>(sql: string) => restate.query<T>(sql);
await setConfig(restate, CLUSTER, { dedup: { cooldownS: DEDUP_COOLDOWN_S } });

let ingressRequests = 0;
const link = createRestateLink({
  ingressUrl: restate.ingressUrl,
  authToken: undefined,
  requestTimeoutMs: 30_000,
});
const metrics = createWatcherMetrics();
const watcher = createWatcher({
  kc: cluster.kubeConfig(),
  link: {
    ...link,
    sendBatch: (events) => ((ingressRequests += 1), link.sendBatch(events)),
  },
  log: createLogger({ name: "bench", level: "silent" }),
  metrics,
  clusterName: CLUSTER,
  identity: "bench",
  configPollIntervalMs: 5000,
});
await watcher.start({ clusterUID: CLUSTER, kubernetesVersion: "v1.20.2", watcherVersion: "bench" });

const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
// Deployment → ReplicaSet → pods, the owner chain the controllers would write (no controller
// manager: it would only add its own pace to the setup, not to the storm).
const setupStarted = Date.now();
await inParallel(
  Array.from({ length: WORKLOADS }, (_, w) => w),
  16,
  async (w) => {
    const name = workloadName(w);
    const labels = { app: name };
    const template = {
      metadata: { labels },
      spec: { containers: [{ name: "app", image: `registry.example/${name}:1` }] },
    };
    const deployment = await apps.createNamespacedDeployment({
      namespace: NAMESPACE,
      body: {
        metadata: { name, labels },
        spec: { replicas: PODS_PER_WORKLOAD, selector: { matchLabels: labels }, template },
      },
    });
    const rs = await apps.createNamespacedReplicaSet({
      namespace: NAMESPACE,
      body: {
        metadata: {
          name: `${name}-5d8f7c9b4`,
          labels,
          ownerReferences: [
            {
              apiVersion: "apps/v1",
              kind: "Deployment",
              name,
              uid: deployment.metadata!.uid!,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: { replicas: PODS_PER_WORKLOAD, selector: { matchLabels: labels }, template },
      },
    });
    for (let p = 0; p < PODS_PER_WORKLOAD; p += 1) {
      await core.createNamespacedPod({
        namespace: NAMESPACE,
        body: {
          metadata: {
            name: `${name}-5d8f7c9b4-${p.toString(36).padStart(5, "x")}`,
            labels,
            ownerReferences: [
              {
                apiVersion: "apps/v1",
                kind: "ReplicaSet",
                name: rs.metadata!.name!,
                uid: rs.metadata!.uid!,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          spec: template.spec,
        },
      });
    }
  },
);
const running = async () =>
  (await core.listNamespacedPod({ namespace: NAMESPACE })).items.filter(
    (pod) => pod.status?.containerStatuses?.[0]?.state?.running,
  );
for (let deadline = Date.now() + 180_000; ; await sleep(1000)) {
  const now = (await running()).length;
  if (now >= TERMINATIONS) break;
  if (Date.now() > deadline) throw new Error(`only ${now} of ${TERMINATIONS} pods running`);
}
const setupSeconds = (Date.now() - setupStarted) / 1000;
await kubelet.settle();
// The watcher has seen every pod running before the storm.
for (let deadline = Date.now() + 60_000; watcher.stats().pods < TERMINATIONS; await sleep(200))
  if (Date.now() > deadline) throw new Error(`watcher holds ${watcher.stats().pods} pods`);

// The storm: every container terminated at once; each pod's time is when its status was written.
const pods = await running();
const terminatedAt = new Map<string, number>();
const stormStarted = Date.now();
await Promise.all(
  pods.map(async (pod) => {
    await kubelet.crashNow(NAMESPACE, pod.metadata!.name!, "app", { exitCode: 1, reason: "Error" });
    const workload = pod.metadata!.labels!.app!;
    const at = Date.now();
    terminatedAt.set(workload, Math.min(terminatedAt.get(workload) ?? at, at));
  }),
);
const stormWriteSeconds = (Date.now() - stormStarted) / 1000;

// The barrier: counted, nothing in flight, the watcher's queue empty, twice in a row.
const incidents = async () =>
  (
    await query<{ value_utf8: string }>(
      `SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND key = 'incident' AND service_key LIKE '${CLUSTER}%'`,
    )
  ).map((row) => JSON.parse(row.value_utf8) as IncidentState);
const ACTIVE = "status NOT IN ('completed', 'scheduled')";
let settledAfterMs: number | undefined;
let stable = 0;
let last: string;
for (let deadline = Date.now() + SETTLE_TIMEOUT_MS; ; await sleep(1000)) {
  const counted = (await incidents()).reduce((sum, incident) => sum + incident.occurrences, 0);
  const active = await query<{ target_service_name: string; status: string; n: number }>(
    `SELECT target_service_name, status, count(*) AS n FROM sys_invocation WHERE ${ACTIVE} GROUP BY target_service_name, status`,
  );
  const queue = watcher.stats().queue;
  last = `counted ${counted} of ${TERMINATIONS}; watcher queue ${queue}; in flight ${JSON.stringify(active)}`;
  stable = counted >= TERMINATIONS && active.length === 0 && queue === 0 ? stable + 1 : 0;
  if (stable >= 2) {
    settledAfterMs = Date.now() - stormStarted;
    break;
  }
  if (Date.now() > deadline) break;
}
if (settledAfterMs === undefined) {
  process.stderr.write(`watcher-storm: not settled after ${SETTLE_TIMEOUT_MS} ms: ${last}\n`);
  process.exit(1);
}

const finalIncidents = await incidents();
const captureRuns = await query<{ target_service_key: string; completed_at: string | null }>(
  "SELECT target_service_key, completed_at FROM sys_invocation WHERE target_service_name = 'Capture' AND target_handler_name = 'run'",
);
const count = async (service: string, handler?: string) =>
  Number(
    (
      await query<{ n: number }>(
        `SELECT count(*) AS n FROM sys_invocation WHERE target_service_name = '${service}'${handler ? ` AND target_handler_name = '${handler}'` : ""}`,
      )
    )[0]?.n ?? 0,
  );
const completedAt = new Map(captureRuns.map((run) => [run.target_service_key, run.completed_at]));
const latencies = finalIncidents
  .filter((incident) => incident.lastCaptureId && completedAt.get(incident.lastCaptureId))
  .map(
    (incident) =>
      Date.parse(completedAt.get(incident.lastCaptureId!)!) -
      terminatedAt.get(incident.workload.name)!,
  )
  .sort((a, b) => a - b);
const custodyObjects = (await s3.listKeys()).filter((key) => key.endsWith("custody.json")).length;
const occurrences = finalIncidents.map((incident) => incident.occurrences);
const expected = {
  incidents: finalIncidents.length === WORKLOADS,
  everyTerminationCounted: occurrences.reduce((a, b) => a + b, 0) === TERMINATIONS,
  capturesOnePerFailure: captureRuns.length === WORKLOADS,
  everyCaptureDone: captureRuns.every((run) => run.completed_at !== null),
  custodyPerCapture: custodyObjects === WORKLOADS,
};
process.stdout.write(
  `${JSON.stringify({
    benchmark: "watcher-crash-storm",
    includes: [
      "real etcd + kube-apiserver; fake kubelet writing every status through the API server",
      `the real watcher (list/watch JSON, detection, dedup with a ${DEDUP_COOLDOWN_S} s cooldown (default 300 s), batching at its default flush)`,
      "real restate-server 1.7.12 on this machine, workflows in this process: Ingest, Incident, Capture with default steps (evidence: logs, manifest, events, node, report, custody; snapshots; forensic pod within its limits), AuditLog",
      "evidence into s3rver (plain HTTP) through the AWS SDK",
      "read only after the barrier: every termination counted, no invocation pending/running/backing-off/suspended, watcher queue empty, twice 1 s apart",
      "latency: a workload's first status write (terminated) -> its Capture.run completed_at (Restate's clock, same machine)",
    ],
    workloads: WORKLOADS,
    dedupCooldownS: DEDUP_COOLDOWN_S,
    podsPerWorkload: PODS_PER_WORKLOAD,
    terminations: TERMINATIONS,
    setupSeconds: Number(setupSeconds.toFixed(1)),
    stormStatusWritesSeconds: Number(stormWriteSeconds.toFixed(1)),
    settledAfterSeconds: Number((settledAfterMs / 1000).toFixed(1)),
    requestsToRestate: ingressRequests,
    ingestInvocations: await count("Ingest"),
    incidentRecordInvocations: await count("Incident", "record"),
    incidents: finalIncidents.length,
    counted: occurrences.reduce((a, b) => a + b, 0),
    occurrencesPerIncident: { min: Math.min(...occurrences), max: Math.max(...occurrences) },
    captures: captureRuns.length,
    capturesCompleted: captureRuns.filter((run) => run.completed_at !== null).length,
    custodyObjectsInS3: custodyObjects,
    dedupFolded: (await metrics.deduped.get()).values[0]?.value ?? 0,
    terminationToCaptureDoneMs: {
      samples: latencies.length,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? null,
    },
    expected,
    loadavg: { before: loadBefore, after: os.loadavg() },
  })}\n`,
);
await watcher.stop(5000);
await restate[Symbol.asyncDispose]();
await s3[Symbol.asyncDispose]();
await kubelet[Symbol.asyncDispose]();
await cluster[Symbol.asyncDispose]();
process.exit(Object.values(expected).every(Boolean) ? 0 : 1);
