import { CoreV1Api } from "@kubernetes/client-node";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createLogger } from "../../src/logging.ts";
import { createWatcherMetrics } from "../../watcher/metrics.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWatcher, type Watcher } from "../../watcher/watcher.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { eventually } from "../harness/eventually.ts";
import { SCENARIO_ANNOTATION, startFakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster } from "../harness/kube-cluster.ts";
import { startRestateCluster } from "../harness/restate-cluster.ts";
import { startRestate } from "../harness/restate-server.ts";
import { setConfig } from "../integration/watcher-helpers.ts";

/**
 * A fleet on one Restate: CLUSTERS simulated clusters, each enrolled under its own name with its
 * own config and its own real watcher, each watching its own namespace of the one API server,
 * where PODS bare pods crash CRASHES times (every pod its own signature). Batches go through the
 * real Ingest API; every capture runs the evidence steps (logs through the API server from the
 * fake kubelet, manifest, events, node, report, custody). The same fleet runs on one
 * restate-server and on a three-node cluster (replication 2) in one run. Figures come from
 * Restate's own tables: Incident.record and Capture.run invocations' created/completed times,
 * AuditInbox.append completions (and the AuditLog.appendBatch calls that sealed them), and the
 * servers' resident memory.
 */
const CLUSTERS = Number(process.env.FLEET_CLUSTERS ?? 5);
const PODS = Number(process.env.FLEET_PODS ?? 30);
const CRASHES = Number(process.env.FLEET_CRASHES ?? 3);

type Timing = { created_at: string; completed_at: string | null; n?: number };
type Query = <T>(sql: string) => Promise<T[]>;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null;

function rssMiB(pids: number[]): number {
  let kib = 0;
  for (const pid of pids) {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    kib += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  }
  return Math.round(kib / 1024);
}

async function runFleet(label: string, phase: string) {
  await using kube = await startKubeCluster();
  await using _kubelet = await startFakeKubelet(kube, {
    nodes: ["node-a", "node-b"],
    restartIntervalMs: 1500,
    maxRestarts: CRASHES,
  });
  const evidence = await mkdtemp(path.join(os.tmpdir(), `podmortem-fleet-${phase}-`));
  const services = createServices({
    kube: createKubeAccess(kube.kubeConfig()),
    store: createDirStore(evidence),
    metrics: createWorkflowMetrics(),
    evidencePrefix: undefined,
    identity: "fleet",
    version: "bench",
  });
  const restate =
    label === "three-nodes"
      ? await startRestateCluster({ nodes: 3, services })
      : await startRestate({ services });
  const ingressUrl = restate.ingressUrl;
  const query: Query = (sql) => restate.query(sql);
  const core = kube.kubeConfig().makeApiClient(CoreV1Api);
  const watchers: Watcher[] = [];
  try {
    for (let c = 0; c < CLUSTERS; c++) {
      const name = `${phase}-c${c}`;
      await setConfig({ ingressUrl }, name, {
        namespaces: { mode: "list", list: [name] },
        dedup: { cooldownS: 0 },
        batch: { flushIntervalMs: 250 },
        capture: {
          steps: {
            snapshots: false,
            checkpoint: false,
            forensicPod: false,
            restartAfterSalvage: false,
          },
        },
      });
      await core.createNamespace({ body: { metadata: { name } } });
    }
    const started = Date.now();
    for (let c = 0; c < CLUSTERS; c++) {
      const name = `${phase}-c${c}`;
      const watcher = createWatcher({
        kc: kube.kubeConfig(),
        link: createRestateLink({ ingressUrl, authToken: undefined, requestTimeoutMs: 30_000 }),
        log: createLogger({ name, level: "silent" }),
        metrics: createWatcherMetrics(),
        clusterName: name,
        identity: `watcher-${name}`,
        configPollIntervalMs: 2000,
      });
      watchers.push(watcher);
      await watcher.start({
        clusterUID: `uid-${name}`,
        kubernetesVersion: "v1.20.2",
        watcherVersion: "bench",
      });
      for (let p = 0; p < PODS; p++) {
        await core.createNamespacedPod({
          namespace: name,
          body: {
            metadata: { name: `svc-${p}`, annotations: { [SCENARIO_ANNOTATION]: "crashloop" } },
            spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
          },
        });
      }
    }
    const expectedCaptures = CLUSTERS * PODS;
    const expectedTerminations = expectedCaptures * CRASHES;
    const count = async (service: string, handler: string) =>
      Number(
        (
          await query<{ n: number }>(
            `SELECT count(*) AS n FROM sys_invocation WHERE target_service_name = '${service}' AND target_handler_name = '${handler}' AND status = 'completed'`,
          )
        )[0]?.n ?? 0,
      );
    await eventually(
      async () => {
        const done = await count("Capture", "run");
        if (done < expectedCaptures) throw new Error(`${done} of ${expectedCaptures} captures`);
      },
      900_000,
      1000,
    );
    const countedNow = async () =>
      (
        await query<{ value_utf8: string }>(
          `SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND key = 'incident' AND service_key LIKE '${phase}-%'`,
        )
      )
        .map((row) => (JSON.parse(row.value_utf8) as { occurrences: number }).occurrences)
        .reduce((a, b) => a + b, 0);
    // Captures finish on the first crash; the later crashes of each loop are still arriving.
    const counted = await eventually(
      async () => {
        const now = await countedNow();
        if (now < expectedTerminations) throw new Error(`${now} of ${expectedTerminations}`);
        return now;
      },
      120_000,
      500,
    ).catch(countedNow);
    const records = await query<Timing>(
      "SELECT created_at, completed_at FROM sys_invocation WHERE target_service_name = 'Incident' AND target_handler_name = 'record' AND status = 'completed'",
    );
    const captures = await query<Timing & { target_service_key: string }>(
      "SELECT target_service_key, created_at, completed_at FROM sys_invocation WHERE target_service_name = 'Capture' AND target_handler_name = 'run' AND status = 'completed'",
    );
    // Services append through the clusters' AuditInbox shards; AuditLog.appendBatch seals them.
    const appends = await query<Timing>(
      "SELECT created_at, completed_at FROM sys_invocation WHERE target_service_name = 'AuditInbox' AND target_handler_name = 'append' AND status = 'completed'",
    );
    const auditBatches = await query<Timing>(
      "SELECT created_at, completed_at FROM sys_invocation WHERE target_service_name = 'AuditLog' AND target_handler_name = 'appendBatch' AND status = 'completed'",
    );
    const span = (rows: Timing[]) => {
      const created = rows.map((r) => Date.parse(r.created_at));
      const completed = rows.map((r) => Date.parse(r.completed_at ?? r.created_at));
      return (Math.max(...completed) - Math.min(...created)) / 1000;
    };
    const captureMs = captures
      .map((r) => Date.parse(r.completed_at ?? r.created_at) - Date.parse(r.created_at))
      .sort((a, b) => a - b);
    return {
      restate: label,
      clusters: CLUSTERS,
      terminations: expectedTerminations,
      counted,
      incidentRecords: records.length,
      incidentRecordsPerSecond: Number((records.length / span(records)).toFixed(1)),
      captures: captures.length,
      capturesPerSecond: Number((captures.length / span(captures)).toFixed(2)),
      captureRunMs: {
        p50: percentile(captureMs, 50),
        p99: percentile(captureMs, 99),
        max: captureMs.at(-1) ?? null,
      },
      auditAppends: appends.length,
      auditAppendsPerSecond: Number((appends.length / span(appends)).toFixed(1)),
      auditEntriesPerSealingBatch: Number((appends.length / auditBatches.length).toFixed(1)),
      wallSeconds: Number(((Date.now() - started) / 1000).toFixed(1)),
      restateRssMiBAtEnd: rssMiB(restate.serverPids()),
    };
  } finally {
    for (const watcher of watchers) await watcher.stop(2000);
    await restate[Symbol.asyncDispose]();
    await rm(evidence, { recursive: true, force: true });
  }
}

const single = await runFleet("one-node", "one");
const three = await runFleet("three-nodes", "three");
process.stdout.write(
  `${JSON.stringify({
    benchmark: "restate-fleet",
    includes:
      "real watchers per cluster (list/watch, detection, batching, audit lines), Ingest over HTTP, Incident, Capture evidence steps with logs through the API server, AuditLog chain through its inboxes; one machine, 2 cores, all processes on it",
    load: os.loadavg().map((l) => Number(l.toFixed(2))),
    runs: [single, three],
  })}\n`,
);
// Keep-alive connections of the watchers' shared dispatchers would hold the process open.
process.exit(0);
