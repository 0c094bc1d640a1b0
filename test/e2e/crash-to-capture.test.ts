import { AppsV1Api, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createS3Store } from "../../src/evidence/s3-store.ts";
import { custodySchema } from "../../src/evidence/custody.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createLogger } from "../../src/logging.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import { createWatcherMetrics } from "../../watcher/metrics.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWatcher, type Watcher } from "../../watcher/watcher.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { startS3, type S3Harness } from "../harness/s3-server.ts";
import { makePodEvent } from "../fixtures/pod-events.ts";
import { eventually } from "../harness/eventually.ts";

const CLUSTER = "e2e";
const NAMESPACE = "shop";

let cluster: KubeCluster;
let kubelet: FakeKubelet;
let restate: RestateHarness;
let s3: S3Harness;
let watcher: Watcher;
let kc: KubeConfig;

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startKubeCluster({ controllerManager: true }), startS3()]);
  kc = cluster.kubeConfig();
  kubelet = await startFakeKubelet(cluster, { nodes: ["node-a"], maxRestarts: 1 });
  const metrics = createWorkflowMetrics();
  restate = await startRestate({
    services: createServices({
      kube: createKubeAccess(kc),
      store: createS3Store({ client: s3.client(), bucket: s3.bucket, prefix: "" }),
      metrics,
      evidencePrefix: undefined,
      identity: "e2e-workflows",
      version: "test",
    }),
  });
  const log = createLogger({ name: "e2e", level: "silent" });
  watcher = createWatcher({
    kc,
    link: createRestateLink({
      ingressUrl: restate.ingressUrl,
      authToken: undefined,
      requestTimeoutMs: 10_000,
    }),
    log,
    metrics: createWatcherMetrics(),
    clusterName: CLUSTER,
    identity: "e2e-watcher",
    configPollIntervalMs: 60_000,
  });
  await cluster
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await watcher.start({
    clusterUID: "e2e-uid",
    kubernetesVersion: "v1.20.2",
    watcherVersion: "test",
  });
}, 180_000);

afterAll(async () => {
  await watcher?.stop(2000);
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  await s3?.[Symbol.asyncDispose]();
});

type Row = Record<string, unknown>;

describe("a crashing Deployment, end to end", () => {
  it("yields exactly one capture per signature, with crash.log sealed in custody.json", async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: NAMESPACE,
      body: {
        metadata: { name: "checkout" },
        spec: {
          replicas: 3,
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

    const captures = await eventually(async () => {
      const rows = await restate.query<Row>(
        "SELECT service_key, value_utf8 FROM state WHERE service_name = 'Capture' AND key = 'status'",
      );
      const done = rows
        .map(
          (row) =>
            JSON.parse(String(row.value_utf8)) as {
              phase: string;
              pod: string;
              container: string;
              signature: string;
              evidence: { folder: string; custodySha256: string; logSha256: string } | null;
            },
        )
        .filter((status) => status.phase !== "running");
      expect(done.length).toBeGreaterThanOrEqual(1);
      return done;
    }, 90_000);

    // Three pods crashed with one signature: still one capture. The barrier: the watcher stops,
    // which sends what its cooldown folded, and the Incident counts all three crashes, each
    // one a chance to start a capture.
    await watcher.stop(10_000);
    await eventually(async () => {
      const rows = await restate.query<Row>(
        "SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND key = 'incident'",
      );
      const counted = rows
        .map(
          (row) => JSON.parse(String(row.value_utf8)) as { namespace: string; occurrences: number },
        )
        .filter((incident) => incident.namespace === NAMESPACE);
      expect(counted.map((incident) => incident.occurrences)).toEqual([3]);
    }, 30_000);
    const invocations = await restate.query<Row>(
      "SELECT target_service_key FROM sys_invocation WHERE target_service_name = 'Capture' AND target_handler_name = 'run'",
    );
    expect(invocations).toHaveLength(1);
    const [capture] = captures;
    expect(capture!.phase).toBe("succeeded");

    const folder = capture!.evidence!.folder;
    const crashLog = await s3.getObjectBytes(`${folder}crash.log`);
    const custodyBytes = await s3.getObjectBytes(`${folder}custody.json`);
    const custody = custodySchema.parse(JSON.parse(custodyBytes.toString("utf8")));
    const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

    const crashed = custody.source;
    const expected = kubelet.previousLog(crashed.namespace, crashed.pod, crashed.container);
    expect(crashLog.equals(expected)).toBe(true);
    const logEntry = custody.artifacts.find((artifact) => artifact.name === "crash.log");
    expect(logEntry?.sha256).toBe(sha256(crashLog));
    expect(capture!.evidence!.custodySha256).toBe(sha256(custodyBytes));
  });

  it("counts the same batch sent twice once", async () => {
    const link = createRestateLink({
      ingressUrl: restate.ingressUrl,
      authToken: undefined,
      requestTimeoutMs: 10_000,
    });
    const events: PodEvent[] = [
      makePodEvent({ cluster: CLUSTER, podUID: "twice-1", namespace: "twice" }),
      makePodEvent({ cluster: CLUSTER, podUID: "twice-2", namespace: "twice" }),
    ];
    await link.sendBatch(events);
    await link.sendBatch(events);
    // A different batch carrying one already counted occurrence adds only the new one.
    await link.sendBatch([
      events[0]!,
      makePodEvent({ cluster: CLUSTER, podUID: "twice-3", namespace: "twice" }),
    ]);
    // The barrier: one more new occurrence, sent after all of them, reaches the same Incident
    // (one queue per key, in order). It must make 4: a count of 3 that kept growing would not.
    await link.sendBatch([
      makePodEvent({ cluster: CLUSTER, podUID: "twice-4", namespace: "twice" }),
    ]);
    const key = `${CLUSTER}:${events[0]!.signature}`;
    const occurrences = async () => {
      const rows = await restate.query<Row>(
        `SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND service_key = '${key}' AND key = 'incident'`,
      );
      const incident = JSON.parse((rows[0]?.value_utf8 as string | undefined) ?? "null") as {
        occurrences: number;
        lastEvent: { podUID: string };
      } | null;
      return incident && { occurrences: incident.occurrences, last: incident.lastEvent.podUID };
    };
    await eventually(async () => expect((await occurrences())?.last).toBe("twice-4"), 20_000);
    expect(await occurrences()).toEqual({ occurrences: 4, last: "twice-4" });
  });

  it("refuses a malformed batch with 400 naming the field, and other batches still land", async () => {
    const good = makePodEvent({ cluster: CLUSTER, podUID: "valid-1", namespace: "refuse" });
    const bad = {
      ...makePodEvent({ cluster: CLUSTER, podUID: "bad-1", namespace: "refuse" }),
      restartCount: -5,
    };
    const response = await fetch(`${restate.ingressUrl}/Ingest/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ events: [bad] }),
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("events[0].restartCount");

    const link = createRestateLink({
      ingressUrl: restate.ingressUrl,
      authToken: undefined,
      requestTimeoutMs: 10_000,
    });
    await link.sendBatch([good]);
    await eventually(async () => {
      const rows = await restate.query<Row>(
        `SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND service_key = '${CLUSTER}:${good.signature}'`,
      );
      expect(rows).toHaveLength(1);
    }, 20_000);
  });
});
