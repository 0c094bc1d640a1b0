import { CoreV1Api, RequestContext, makeInformer } from "@kubernetes/client-node";
import { fetch } from "undici";

import { createLogger } from "../../src/logging.ts";
import { defaultRemoteConfig, toWatcherConfig } from "../../src/model/remote-config.ts";
import { createWatcherMetrics } from "../../watcher/metrics.ts";
import type { RestateLink } from "../../watcher/restate-link.ts";
import { createWatcher } from "../../watcher/watcher.ts";
import { eventually } from "../harness/eventually.ts";
import { startKubeCluster } from "../harness/kube-cluster.ts";
import { rawPod } from "./synthetic-pods.ts";

/**
 * Heap per watched pod against the real API server, at a scale two cores carry: N pods created
 * from the realistic template (managedFields written by the API server itself, status set to
 * Running, a tenth crash-looping), listed and watched by the watcher; then the same pods cached
 * by client-node's own informer, for comparison. Restate plays no part in this figure: the link
 * answers locally (config: defaults, every namespace).
 */
const PODS = Number(process.env.HEAP_PODS ?? 2000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i += 1) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return process.memoryUsage().heapUsed;
}

await using cluster = await startKubeCluster();
const kc = cluster.kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
for (let n = 0; n < 10; n += 1)
  await core.createNamespace({ body: { metadata: { name: `team-${n}` } } });

const link: RestateLink = {
  sendBatch: () => Promise.resolve("local"),
  enroll: () => Promise.resolve(undefined as never),
  getConfig: () =>
    Promise.resolve({ version: 1, changed: true, config: toWatcherConfig(defaultRemoteConfig()) }),
};
const watcher = createWatcher({
  kc,
  link,
  log: createLogger({ name: "bench", level: "silent" }),
  metrics: createWatcherMetrics(),
  clusterName: "bench",
  identity: "bench",
  configPollIntervalMs: 60_000,
});
await watcher.start({ clusterUID: "bench", kubernetesVersion: "", watcherVersion: "bench" });
const baseline = await heapAfterGc();

/** Raw JSON both ways: the template's timestamps stay the strings the API server sends. */
async function send(method: "POST" | "PUT", path: string, body: unknown): Promise<unknown> {
  const url = `${kc.getCurrentCluster()!.server}${path}`;
  const context = new RequestContext(url, method);
  await kc.applySecurityAuthentication(context);
  const response = await fetch(url, {
    method,
    headers: { ...context.getHeaders(), "content-type": "application/json" },
    dispatcher: context.getDispatcher(),
    body: JSON.stringify(body),
  });
  if (!response.ok)
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

const createdAt = Date.now();
let next = 0;
async function createWorker(): Promise<void> {
  for (let i = next++; i < PODS; i = next++) {
    const template = rawPod(i, i % 10 === 0 ? { crashed: true, restartCount: 1 } : {});
    const namespace = `team-${i % 10}`;
    const { name, labels, annotations } = template.metadata;
    const pods = `/api/v1/namespaces/${namespace}/pods`;
    const created = (await send("POST", pods, {
      metadata: { name, namespace, labels, annotations },
      spec: template.spec,
    })) as Record<string, unknown>;
    await send("PUT", `${pods}/${name}/status`, { ...created, status: template.status });
  }
}
await Promise.all(Array.from({ length: 8 }, createWorker));
const createSeconds = (Date.now() - createdAt) / 1000;
await eventually(
  async () => {
    if (watcher.stats().pods < PODS) throw new Error(`${watcher.stats().pods} of ${PODS}`);
  },
  120_000,
  200,
);
await new Promise((resolve) => setTimeout(resolve, 2000));
const watched = await heapAfterGc();
const stats = watcher.stats();
await watcher.stop(2000);

// client-node's informer over the same pods keeps every object whole.
const before = await heapAfterGc();
const informer = makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces());
await informer.start();
await eventually(
  async () => {
    if (informer.list().length < PODS) throw new Error("listing");
  },
  60_000,
  200,
);
const informed = await heapAfterGc();
await informer.stop();
const samplePod = await core.readNamespacedPod({
  name: rawPod(0).metadata.name,
  namespace: "team-0",
});

process.stdout.write(
  `${JSON.stringify({
    benchmark: "watcher-heap-per-pod-apiserver",
    target: "<= 1536 bytes per pod",
    pods: PODS,
    podJsonBytesFromApiServer: JSON.stringify(samplePod).length,
    createSeconds: Number(createSeconds.toFixed(1)),
    watcher: {
      bytesPerPod: Math.round((watched - baseline) / PODS),
      heapDeltaMiB: Number(((watched - baseline) / 1024 / 1024).toFixed(2)),
      kept: stats,
    },
    clientNodeInformer: {
      bytesPerPod: Math.round((informed - before) / PODS),
      heapDeltaMiB: Number(((informed - before) / 1024 / 1024).toFixed(2)),
    },
  })}\n`,
);
