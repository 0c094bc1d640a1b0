import { KubeConfig, makeInformer, CoreV1Api } from "@kubernetes/client-node";
import { spawn } from "node:child_process";
import os from "node:os";

import { createKubeHttp } from "../../src/k8s/kube-http.ts";
import { createLogger } from "../../src/logging.ts";
import { defaultRemoteConfig, toWatcherConfig } from "../../src/model/remote-config.ts";
import { createWatcherMetrics } from "../../watcher/metrics.ts";
import type { RestateLink } from "../../watcher/restate-link.ts";
import { createWatcher } from "../../watcher/watcher.ts";
import { startKubeCluster } from "../harness/kube-cluster.ts";
import { rawPod } from "./synthetic-pods.ts";

/**
 * Settled heap per watched pod against the real API server (etcd + kube-apiserver), podmortem's
 * watcher beside client-node's makeInformer. Pods are created from the realistic template
 * (managedFields written by the API server itself, status set to Running, a tenth
 * crash-looping, 50 namespaces) up to each size in HEAP_SIZES (default 0,5000,20000); at each
 * size each consumer runs HEAP_RUNS (default 3) times, each run its own Node process
 * (--expose-gc): heap after GC with the modules loaded, then the consumer lists and watches
 * every pod, then heap after GC again once it holds them all. The figure is that difference:
 * at 0 pods it is the consumer's fixed overhead, between the two largest sizes the per-pod
 * slope. Restate plays no part: the watcher's link answers locally (config: defaults, every
 * namespace).
 *
 * Full size: npm run bench -- watcher-heap-apiserver   (HEAP_SIZES=0,5000,20000 HEAP_RUNS=3)
 */
const CONSUMER = process.env.HEAP_CONSUMER as "watcher" | "informer" | undefined;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 4; i += 1) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return process.memoryUsage().heapUsed;
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

type Sample = { heapBefore: number; heapAfter: number; rss: number; readyMs: number };

/** One consumer in this process: the heap it adds once it holds every pod. */
async function measure(consumer: "watcher" | "informer"): Promise<Sample> {
  const pods = Number(process.env.HEAP_EXPECT_PODS);
  const kc = new KubeConfig();
  kc.loadFromFile(process.env.HEAP_KUBECONFIG!);
  const heapBefore = await heapAfterGc();
  const started = Date.now();
  let stop: () => Promise<void>;
  if (consumer === "watcher") {
    const link: RestateLink = {
      sendBatch: () => Promise.resolve("local"),
      enroll: () => Promise.resolve(undefined as never),
      getConfig: () =>
        Promise.resolve({
          version: 1,
          changed: true,
          config: toWatcherConfig(defaultRemoteConfig()),
        }),
    };
    const watcher = createWatcher({
      kc,
      link,
      log: createLogger({ name: "bench", level: "silent" }),
      metrics: createWatcherMetrics(),
      clusterName: "bench",
      identity: "bench",
      configPollIntervalMs: 600_000,
    });
    await watcher.start({ clusterUID: "bench", kubernetesVersion: "", watcherVersion: "bench" });
    await until("watcher holds every pod", () => watcher.stats().pods >= pods, 240_000);
    stop = () => watcher.stop(2000);
  } else {
    const core = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces());
    await informer.start();
    await until("informer holds every pod", () => informer.list().length >= pods, 240_000);
    stop = () => informer.stop();
  }
  const readyMs = Date.now() - started;
  // Let the watches settle (bookmarks, the first ticks) before the heap is read.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const heapAfter = await heapAfterGc();
  const { rss } = process.memoryUsage();
  await stop();
  return { heapBefore, heapAfter, rss, readyMs };
}

if (CONSUMER) {
  process.stdout.write(`${JSON.stringify(await measure(CONSUMER))}\n`);
  process.exit(0);
}

const SIZES = (process.env.HEAP_SIZES ?? "0,5000,20000")
  .split(",")
  .map(Number)
  .sort((a, b) => a - b);
const RUNS = Number(process.env.HEAP_RUNS ?? 3);
const CREATE_CONCURRENCY = Number(process.env.HEAP_CREATE_CONCURRENCY ?? 96);
const NAMESPACES = 50;
const loadBefore = os.loadavg();

const cluster = await startKubeCluster();
const http = createKubeHttp(cluster.kubeConfig());

async function send(method: "POST" | "PUT", path: string, body: unknown): Promise<unknown> {
  const response = await http.request(path, {
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.statusCode >= 300)
    throw new Error(`${method} ${path}: ${response.statusCode} ${await response.body.text()}`);
  return response.body.json();
}

for (let n = 0; n < NAMESPACES; n += 1)
  await send("POST", "/api/v1/namespaces", { metadata: { name: `team-${n}` } });

/** Creates pods [from, to): each a POST, then its status as the kubelet would write it. */
async function createPods(from: number, to: number): Promise<void> {
  let next = from;
  const worker = async () => {
    for (let i = next++; i < to; i = next++) {
      const template = rawPod(i, i % 10 === 0 ? { crashed: true, restartCount: 1 } : {});
      const { name, namespace, labels, annotations, ownerReferences } = template.metadata;
      const pods = `/api/v1/namespaces/${namespace}/pods`;
      const created = (await send("POST", pods, {
        metadata: { name, namespace, labels, annotations, ownerReferences },
        spec: template.spec,
      })) as Record<string, unknown>;
      await send("PUT", `${pods}/${name}/status`, { ...created, status: template.status });
    }
  };
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, worker));
}

function runConsumer(consumer: "watcher" | "informer", pods: number): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", import.meta.filename], {
      env: {
        ...process.env,
        HEAP_CONSUMER: consumer,
        HEAP_EXPECT_PODS: String(pods),
        HEAP_KUBECONFIG: cluster.kubeconfigPath,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.once("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out) as Sample) : reject(new Error(`${consumer}: ${code}`)),
    );
  });
}

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0]!,
    median: sorted[Math.floor(sorted.length / 2)]!,
    max: sorted.at(-1)!,
  };
};
const MIB = 1024 * 1024;
const consumers = ["watcher", "informer"] as const;
const results: Record<string, Record<number, Sample[]>> = { watcher: {}, informer: {} };
const createSeconds: Record<number, number> = {};
let created = 0;
for (const size of SIZES) {
  const createStarted = Date.now();
  await createPods(created, size);
  createSeconds[size] = Number(((Date.now() - createStarted) / 1000).toFixed(1));
  created = Math.max(created, size);
  for (let run = 0; run < RUNS; run += 1) {
    // Alternated, so a noisy minute on the shared machine falls on both.
    for (const consumer of consumers)
      (results[consumer]![size] ??= []).push(await runConsumer(consumer, size));
  }
}

const podJsonBytes = JSON.stringify(
  await http.getJson(`/api/v1/namespaces/team-1/pods/${rawPod(1).metadata.name}`),
).length;
const [small, large] = [SIZES.at(-2)!, SIZES.at(-1)!];
const report = Object.fromEntries(
  consumers.map((consumer) => {
    const bySize = results[consumer]!;
    const deltas = (size: number) => bySize[size]!.map((s) => s.heapAfter - s.heapBefore);
    const median = (size: number) => stats(deltas(size)).median;
    const slope = (median(large) - median(small)) / (large - small);
    return [
      consumer,
      {
        sizes: Object.fromEntries(
          SIZES.map((size) => [
            size,
            {
              heapDeltaMiB: mapStats(stats(deltas(size)), (v) => Number((v / MIB).toFixed(2))),
              ...(size > 0
                ? {
                    bytesPerPodIncludingFixed: mapStats(stats(deltas(size)), (v) =>
                      Math.round(v / size),
                    ),
                  }
                : {}),
              rssMiB: mapStats(stats(bySize[size]!.map((s) => s.rss)), (v) =>
                Number((v / MIB).toFixed(1)),
              ),
              readySeconds: mapStats(stats(bySize[size]!.map((s) => s.readyMs)), (v) =>
                Number((v / 1000).toFixed(1)),
              ),
            },
          ]),
        ),
        fixedOverheadMiB: SIZES.includes(0) ? Number((median(0) / MIB).toFixed(2)) : undefined,
        bytesPerPodSlope: Math.round(slope),
        slopeBetween: [small, large],
        bytesPerPodSlopeSpread: mapStats(
          stats(
            deltas(large).flatMap((big) =>
              deltas(small).map((little) => (big - little) / (large - small)),
            ),
          ),
          Math.round,
        ),
      },
    ];
  }),
);

function mapStats<T>(
  value: { min: number; median: number; max: number },
  f: (v: number) => T,
): { min: T; median: T; max: T } {
  return { min: f(value.min), median: f(value.median), max: f(value.max) };
}

process.stdout.write(
  `${JSON.stringify({
    benchmark: "watcher-heap-per-pod-apiserver",
    includes: [
      "real etcd + kube-apiserver 1.20 on this machine; pods created through it (managedFields by the server)",
      "list + watch over HTTPS, JSON parsed by each consumer's own client",
      "each consumer in its own Node process; heap = V8 heapUsed after 4 forced GCs, minus the same before the consumer started",
      "watcher: podmortem's pipeline and informer, default config (every namespace), Restate link answering locally, no audit (Restate-side)",
      "informer: client-node makeInformer('/api/v1/pods'), full objects",
      "per-pod slope = (median at the largest size - median at the one before) / pods between; spread = every pair of runs",
    ],
    target: "<= 1536 bytes per pod (slope)",
    sizes: SIZES,
    runs: RUNS,
    namespaces: NAMESPACES,
    crashLoopingShare: 0.1,
    podJsonBytesFromApiServer: podJsonBytes,
    createSeconds,
    createConcurrency: CREATE_CONCURRENCY,
    ...report,
    slopeRatioInformerToWatcher: Number(
      (
        (report.informer as { bytesPerPodSlope: number }).bytesPerPodSlope /
        (report.watcher as { bytesPerPodSlope: number }).bytesPerPodSlope
      ).toFixed(1),
    ),
    loadavg: { before: loadBefore, after: os.loadavg() },
  })}\n`,
);
await http.close();
await cluster[Symbol.asyncDispose]();
process.exit(0);
