import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1OwnerReference,
  type V1PodTemplateSpec,
} from "@kubernetes/client-node";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { custodySchema } from "../../src/evidence/custody.ts";
import { createS3Client, createS3Store } from "../../src/evidence/s3-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { reportSchema, type Report } from "../../src/report/report-schema.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import type { CaptureStatus } from "../../workflows/capture.workflow.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { makePodEvent } from "../fixtures/pod-events.ts";
import { CaptureDriver, captureWorkflowOf } from "../harness/capture-driver.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { startS3, type S3Harness } from "../harness/s3-server.ts";
import { setConfig } from "./watcher-helpers.ts";
import { REPO_ROOT, runBinScript, runProgram, s3ClientEnv, type CliRun } from "../harness/cli.ts";
import { ensureTools } from "../harness/tools.ts";

const CLUSTER = "pm";
/** The cluster on-demand captures speak of: its own config (checkpoints and copies on). */
const OD = "od";
const NS = "shop";
const EXCLUDED_NS = "quiet";
// The real kubectl (v1.34.5) runs kubectl-forensic from PATH, as it would for a user.
const KUBECTL = ensureTools().kubectl;
let pluginDir: string;
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let s3: S3Harness;
let restate: RestateHarness;
let kc: KubeConfig;
let core: CoreV1Api;
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startKubeCluster(), startS3()]);
  kc = cluster.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  kubelet = await startFakeKubelet(cluster, { nodes: ["node-a"], restartIntervalMs: 60_000 });
  for (const name of [NS, EXCLUDED_NS, "podmortem"])
    await core.createNamespace({ body: { metadata: { name } } });
  // The retriever streams a checkpoint from the node to S3 with these credentials.
  await core.createNamespacedSecret({
    namespace: "podmortem",
    body: {
      metadata: { name: "retriever-s3" },
      stringData: {
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
        AWS_REGION: s3.region,
      },
    },
  });
  pluginDir = await mkdtemp(path.join(os.tmpdir(), "podmortem-plugin-"));
  await writeFile(
    path.join(pluginDir, "kubectl-forensic"),
    `#!/bin/sh\nexec "${REPO_ROOT}/node_modules/.bin/node" "${REPO_ROOT}/bin/kubectl-forensic.js" "$@"\n`,
  );
  await chmod(path.join(pluginDir, "kubectl-forensic"), 0o755);
  const client = createS3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
  });
  restate = await startRestate({
    services: [
      ...createServices({
        kube: createKubeAccess(kc),
        store: createS3Store({ client, bucket: s3.bucket }),
        metrics: createWorkflowMetrics(),
        evidencePrefix: undefined,
        identity: "postmortem-test",
        version: "test",
        settings: {
          retriever: { image: "podmortem:dev", namespace: "podmortem", s3Secret: "retriever-s3" },
          evidence: {
            kind: "s3",
            bucket: s3.bucket,
            prefix: undefined,
            endpoint: s3.endpoint,
            region: s3.region,
            forcePathStyle: true,
            kmsKeyId: undefined,
          },
          kubeletInsecureTls: false,
        },
      }),
      CaptureDriver,
    ],
  });
  await setConfig(restate, CLUSTER, {
    capture: { steps: { snapshots: false, forensicPod: false, checkpoint: false } },
  });
  await setConfig(restate, OD, {
    namespaces: { exclude: [EXCLUDED_NS] },
    capture: {
      steps: { snapshots: false, forensicPod: true, checkpoint: true },
      checkpoint: { deleteFromNode: true },
      limits: { forensicCopiesPerNamespace: 100, capturesPerMinute: 1000 },
    },
  });
  const enrolled = await fetch(`${restate.ingressUrl}/Cluster/${OD}/enroll`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ clusterUID: "on-demand-test-uid" }),
  });
  expect(enrolled.status).toBe(200);
}, 150_000);

afterAll(async () => {
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  await s3?.[Symbol.asyncDispose]();
});

async function startPod(
  name: string,
  container: Partial<V1Container> = {},
  scenario = "healthy",
  meta: { ownerReferences?: V1OwnerReference[]; labels?: Record<string, string> } = {},
) {
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name, annotations: { "fake-kubelet/scenario": scenario }, ...meta },
      spec: { containers: [{ name: "app", image: "registry.example/app:1", ...container }] },
    },
  });
}

const ownedBy = (kind: string, name: string, uid: string): V1OwnerReference[] => [
  { apiVersion: "apps/v1", kind, name, uid, controller: true },
];

function template(app: string, container: Partial<V1Container>): V1PodTemplateSpec {
  return {
    metadata: { labels: { app } },
    spec: { containers: [{ name: "app", image: "registry.example/app:1", ...container }] },
  };
}

async function podReaches(
  name: string,
  test: (pod: Awaited<ReturnType<CoreV1Api["readNamespacedPod"]>>) => boolean,
) {
  let found: Awaited<ReturnType<CoreV1Api["readNamespacedPod"]>> | undefined;
  await eventually(async () => {
    const pod = await core.readNamespacedPod({ name, namespace: NS });
    expect(test(pod)).toBe(true);
    found = pod;
  }, 30_000);
  return found!;
}

async function running(name: string) {
  return podReaches(
    name,
    (pod) => pod.status?.containerStatuses?.[0]?.state?.running !== undefined,
  );
}

/** The PodEvent the watcher would send for the pod's crashed or waiting container. */
async function eventFor(name: string, container = "app"): Promise<PodEvent> {
  const pod = await core.readNamespacedPod({ name, namespace: NS });
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ];
  const status = statuses.find((s) => s.name === container)!;
  const init = (pod.status?.initContainerStatuses ?? []).some((s) => s.name === container);
  const terminated = status.lastState?.terminated ?? status.state?.terminated;
  const waiting = status.state?.waiting;
  const iso = (d: Date | string | undefined) => (d ? new Date(d).toISOString() : null);
  return makePodEvent({
    cluster: CLUSTER,
    namespace: NS,
    pod: name,
    podUID: pod.metadata!.uid!,
    node: pod.spec!.nodeName!,
    container,
    containerType: init ? "init" : "regular",
    image: status.image,
    workload: { kind: "Pod", name },
    reason:
      terminated && waiting?.reason === "CrashLoopBackOff"
        ? terminated.reason!
        : (waiting?.reason ?? terminated?.reason ?? "Error"),
    exitCode: waiting && !terminated ? null : (terminated?.exitCode ?? null),
    signal: terminated?.signal ?? null,
    message: (waiting && !terminated ? waiting.message : terminated?.message) ?? "",
    restartCount: status.restartCount,
    startedAt: iso(terminated?.startedAt),
    finishedAt: iso(terminated?.finishedAt),
  });
}

async function capture(
  event: PodEvent,
  id: string,
): Promise<{ status: CaptureStatus; report: Report; markdown: string }> {
  const workflow = captureWorkflowOf(restate.ingressUrl, id);
  await workflow.workflowSubmit({ event, incidentKey: `${event.cluster}:${event.signature}` });
  const status = await workflow.workflowAttach();
  const folder = status.evidence!.folder;
  const report = reportSchema.parse(
    JSON.parse((await s3.getObjectBytes(`${folder}report.json`)).toString()),
  );
  const markdown = (await s3.getObjectBytes(`${folder}report.md`)).toString();
  return { status, report, markdown };
}

async function crashWithLog(
  name: string,
  log: string,
  termination: { exitCode: number; reason?: string; signal?: number; message?: string },
  container: Partial<V1Container> = {},
) {
  await startPod(name, container);
  await running(name);
  kubelet.setLog(NS, name, "app", { current: log });
  await kubelet.crashNow(NS, name, "app", termination);
  await podReaches(
    name,
    (pod) => pod.status?.containerStatuses?.[0]?.lastState?.terminated !== undefined,
  );
  return eventFor(name);
}

describe("the postmortem of a real capture", () => {
  it("OOMKilled against the limit: report.json and report.md sealed in custody, headline on the status", async () => {
    const crashed = await crashWithLog(
      "oom-1",
      "allocating cache\nallocating more cache\n",
      { exitCode: 137, reason: "OOMKilled", signal: 9 },
      { resources: { limits: { memory: "64Mi" }, requests: { memory: "32Mi" } } },
    );
    // As the watcher reports a termination: the restartCount of the instance that ended.
    const event = { ...crashed, restartCount: 0 };
    const { status, report, markdown } = await capture(event, "pm-oom");
    expect(report.top.code).toBe("oom.limit");
    expect(report.top.summary).toContain("64Mi");
    expect(status.topFinding).toBe("oom.limit");
    expect(status.headline).toBe(report.headline);
    expect(status.steps.map((s) => s.name)).toContain("write report");
    expect(status.steps.find((s) => s.name === "write report")!.outcome).toBe("ok");
    expect(markdown).toContain(report.top.summary);
    // The event names the instance that ended; the API server counts the restart that followed.
    const apiRestarts = (await core.readNamespacedPod({ name: "oom-1", namespace: NS })).status!
      .containerStatuses![0]!.restartCount;
    expect([event.restartCount, apiRestarts]).toEqual([0, 1]);
    expect(report.crash.restartCount).toBe(1);
    expect(markdown).toContain(", 1 restart |");
    expect(report.logTail.lines.map((l) => l.text)).toEqual([
      "allocating cache",
      "allocating more cache",
    ]);

    const folder = status.evidence!.folder;
    const custody = custodySchema.parse(
      JSON.parse((await s3.getObjectBytes(`${folder}custody.json`)).toString()),
    );
    for (const name of ["report.json", "report.md"]) {
      const artifact = custody.artifacts.find((a) => a.name === name)!;
      expect(artifact, name).toBeDefined();
      expect(sha256(await s3.getObjectBytes(artifact.key))).toBe(artifact.sha256);
    }
    // The report links every artifact custody seals.
    expect(report.artifacts.map((a) => a.name).sort()).toEqual(
      [...custody.artifacts.map((a) => a.name), "custody.json"].sort(),
    );
  });

  it("a liveness probe kill, from the kubelet's Unhealthy and Killing events", async () => {
    await startPod("probe-1", { livenessProbe: { httpGet: { path: "/healthz", port: 8080 } } });
    await running("probe-1");
    await kubelet.recordEvent(NS, "probe-1", {
      reason: "Unhealthy",
      message: "Liveness probe failed: HTTP probe failed with statuscode: 503",
      container: "app",
      count: 3,
    });
    await kubelet.recordEvent(NS, "probe-1", {
      reason: "Killing",
      type: "Normal",
      message: "Container app failed liveness probe, will be restarted",
      container: "app",
    });
    await kubelet.crashNow(NS, "probe-1", "app", { exitCode: 137, reason: "Error", signal: 9 });
    await podReaches(
      "probe-1",
      (pod) => pod.status?.containerStatuses?.[0]?.lastState?.terminated !== undefined,
    );
    const { report } = await capture(await eventFor("probe-1"), "pm-probe");
    expect(report.top.code).toBe("probe.liveness-kill");
    expect(report.top.summary).toContain("statuscode: 503");
    expect(report.timeline.some((t) => t.source === "event" && t.what.startsWith("Killing"))).toBe(
      true,
    );
  });

  it("a missing key of a Secret: CreateContainerConfigError names the key and the env that reads it", async () => {
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "db" }, stringData: { user: "app" } },
    });
    await startPod("config-1", {
      env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } }],
    });
    await podReaches(
      "config-1",
      (pod) =>
        pod.status?.containerStatuses?.[0]?.state?.waiting?.reason === "CreateContainerConfigError",
    );
    const { report } = await capture(await eventFor("config-1"), "pm-config");
    expect(report.top.code).toBe("config.missing-key");
    expect(report.top.summary).toContain('key "password" is missing from Secret shop/db');
    expect(report.top.summary).toContain("DB_PASSWORD");
    expect(report.logTail.available).toBe(false);
  });

  it("image pulls: unauthorized and rate-limited told apart by the registry's answer", async () => {
    const cases = [
      [
        "pull-auth",
        "image.unauthorized",
        'Failed to pull image "registry.example/app:1": rpc error: code = Unknown desc = failed to resolve reference: unexpected status: 401 Unauthorized',
      ],
      [
        "pull-rate",
        "image.rate-limited",
        'Failed to pull image "registry.example/app:1": toomanyrequests: You have reached your pull rate limit',
      ],
    ] as const;
    for (const [name, code, message] of cases) {
      await startPod(name);
      await running(name);
      await kubelet.waitNow(NS, name, "app", {
        reason: "ImagePullBackOff",
        message: 'Back-off pulling image "registry.example/app:1"',
      });
      await kubelet.recordEvent(NS, name, { reason: "Failed", message, container: "app" });
      await podReaches(
        name,
        (pod) => pod.status?.containerStatuses?.[0]?.state?.waiting?.reason === "ImagePullBackOff",
      );
      const { report } = await capture(await eventFor(name), `pm-${name}`);
      expect(report.top.code, name).toBe(code);
    }
  });

  it("eviction under node memory pressure, from the pod's status", async () => {
    await startPod("evict-1", {}, "evicted");
    await podReaches("evict-1", (pod) => pod.status?.reason === "Evicted");
    const event = { ...(await eventFor("evict-1")), reason: "Evicted" };
    const { report } = await capture(event, "pm-evict");
    expect(report.top.code).toBe("evicted.node-pressure");
    expect(report.top.summary).toContain("low on memory");
  });

  it("log tails of each language name the error and where, with secrets masked", async () => {
    const cases = [
      [
        "go-1",
        "log.go-panic",
        "starting\npanic: runtime error: invalid memory address or nil pointer dereference\n\ngoroutine 1 [running]:\nmain.handler(...)\n\t/src/main.go:42 +0x1d\n",
        "main.go:42",
      ],
      [
        "java-1",
        "log.java-exception",
        'Exception in thread "main" java.lang.IllegalStateException: no datasource\n\tat com.shop.App.main(App.java:12)\n',
        "IllegalStateException",
      ],
      [
        "python-1",
        "log.python-traceback",
        "Traceback (most recent call last):\n  File \"/app/main.py\", line 9, in <module>\n    run()\nKeyError: 'region'\n",
        "KeyError",
      ],
      [
        "node-1",
        "log.node-error",
        "TypeError: Cannot read properties of undefined (reading 'port')\n    at start (/app/server.js:14:11)\n    at node:internal/main/run_main_module:36:49\n",
        "/app/server.js:14:11",
      ],
      [
        "refused-1",
        "log.connection-refused",
        "connecting with password=hunter2\nFATAL dial tcp 10.96.12.4:5432: connect: connection refused\n",
        "10.96.12.4:5432",
      ],
    ] as const;
    for (const [name, code, log, mention] of cases) {
      const event = await crashWithLog(name, log, { exitCode: 1, reason: "Error" });
      const { report, markdown } = await capture(event, `pm-${name}`);
      expect(report.top.code, name).toBe(code);
      expect(report.top.summary, name).toContain(mention);
      expect(report.top.evidence[0]!.artifact).toBe("crash.log");
      expect(markdown, name).not.toContain("hunter2");
    }
  });

  it("an init container that fails holds the pod", async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "init-1", annotations: { "fake-kubelet/scenario": "init-crash" } },
        spec: {
          initContainers: [{ name: "migrate", image: "registry.example/migrate:1" }],
          containers: [{ name: "app", image: "registry.example/app:1" }],
        },
      },
    });
    await podReaches(
      "init-1",
      (pod) => pod.status?.initContainerStatuses?.[0]?.state?.running !== undefined,
    );
    await kubelet.crashNow(NS, "init-1", "migrate", { exitCode: 3, reason: "Error" });
    await podReaches(
      "init-1",
      (pod) => pod.status?.initContainerStatuses?.[0]?.lastState?.terminated !== undefined,
    );
    const { report } = await capture(await eventFor("init-1", "migrate"), "pm-init");
    expect(report.top.code).toBe("init.failed");
    expect(report.top.summary).toContain("Init container migrate fails with exit 3");
  });

  it("what changed: a Deployment's previous ReplicaSet against the pod's, in changes.json and the report", async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    const v1 = template("web", {
      image: "registry.example/web:1.0",
      env: [{ name: "A", value: "x" }],
    });
    const v2 = template("web", {
      image: "registry.example/web:1.1",
      env: [
        { name: "A", value: "secret-y" },
        { name: "B", value: "z" },
      ],
      resources: { limits: { memory: "64Mi" } },
    });
    const deployment = await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: "web" },
        spec: { selector: { matchLabels: { app: "web" } }, template: v2 },
      },
    });
    const replicaSets = [];
    for (const [revision, spec] of [
      [1, v1],
      [2, v2],
    ] as const)
      replicaSets.push(
        await apps.createNamespacedReplicaSet({
          namespace: NS,
          body: {
            metadata: {
              name: `web-r${revision}`,
              annotations: { "deployment.kubernetes.io/revision": String(revision) },
              ownerReferences: ownedBy("Deployment", "web", deployment.metadata!.uid!),
            },
            spec: { replicas: 0, selector: { matchLabels: { app: "web" } }, template: spec },
          },
        }),
      );
    await startPod("web-r2-abcde", v2.spec!.containers[0], "healthy", {
      ownerReferences: ownedBy("ReplicaSet", "web-r2", replicaSets[1]!.metadata!.uid!),
    });
    await running("web-r2-abcde");
    await kubelet.crashNow(NS, "web-r2-abcde", "app", { exitCode: 1, reason: "Error" });
    await podReaches(
      "web-r2-abcde",
      (pod) => pod.status?.containerStatuses?.[0]?.lastState?.terminated !== undefined,
    );
    const event = {
      ...(await eventFor("web-r2-abcde")),
      workload: { kind: "Deployment", name: "web" },
    };
    const { status, report, markdown } = await capture(event, "pm-changes-deploy");

    expect(status.steps.find((s) => s.name === "capture changes")?.outcome).toBe("ok");
    const changes = JSON.parse(
      (await s3.getObjectBytes(`${status.evidence!.folder}changes.json`)).toString(),
    ) as {
      current: { revision: number };
      previous: { revision: number };
      details: string[];
      crashAfterRolloutS: number;
    };
    expect(changes.current.revision).toBe(2);
    expect(changes.previous.revision).toBe(1);
    expect(changes.details).toEqual([
      "app: image registry.example/web:1.0 → registry.example/web:1.1",
      "app: env added: B",
      "app: env changed (values not shown): A",
      "app: resources requests none, limits none → requests none, limits memory=64Mi",
    ]);
    expect(changes.crashAfterRolloutS).toBeGreaterThanOrEqual(0);
    expect(report.changes!.summary).toMatch(
      /^The crash came \d+ s after the rollout to revision 2, which changed since revision 1: app image/,
    );
    expect(markdown).toContain("app: env added: B");
    expect(markdown).not.toContain("secret-y");
    const custody = custodySchema.parse(
      JSON.parse((await s3.getObjectBytes(`${status.evidence!.folder}custody.json`)).toString()),
    );
    expect(custody.artifacts.map((a) => a.name)).toContain("changes.json");
  });

  it("what changed: a StatefulSet's ControllerRevisions, the pod's found by its revision hash", async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    const v1 = template("db", { image: "registry.example/db:15", args: ["--max-connections=100"] });
    const v2 = template("db", {
      image: "registry.example/db:15",
      args: ["--max-connections=10"],
      livenessProbe: { tcpSocket: { port: 5432 }, periodSeconds: 1 },
    });
    const statefulSet = await apps.createNamespacedStatefulSet({
      namespace: NS,
      body: {
        metadata: { name: "db" },
        spec: { serviceName: "db", selector: { matchLabels: { app: "db" } }, template: v2 },
      },
    });
    for (const [revision, spec] of [
      [1, v1],
      [2, v2],
    ] as const)
      await apps.createNamespacedControllerRevision({
        namespace: NS,
        body: {
          metadata: {
            name: `db-hash${revision}`,
            ownerReferences: ownedBy("StatefulSet", "db", statefulSet.metadata!.uid!),
          },
          revision,
          data: { spec: { template: { ...spec, $patch: "replace" } } },
        },
      });
    await startPod("db-0", v2.spec!.containers[0], "healthy", {
      ownerReferences: ownedBy("StatefulSet", "db", statefulSet.metadata!.uid!),
      labels: { app: "db", "controller-revision-hash": "db-hash2" },
    });
    await running("db-0");
    await kubelet.crashNow(NS, "db-0", "app", { exitCode: 1, reason: "Error" });
    await podReaches(
      "db-0",
      (pod) => pod.status?.containerStatuses?.[0]?.lastState?.terminated !== undefined,
    );
    const event = { ...(await eventFor("db-0")), workload: { kind: "StatefulSet", name: "db" } };
    const { report } = await capture(event, "pm-changes-sts");
    expect(report.changes!.details).toEqual([
      "app: command/args --max-connections=100 → --max-connections=10",
      "app: livenessProbe none → tcp :5432 (period 1s)",
    ]);
  });

  it("the real binaries: podmortem incidents and show, kubectl forensic show, with their exit codes", async () => {
    await setConfig(restate, CLUSTER, {
      capture: { steps: { snapshots: false, forensicPod: true, checkpoint: false } },
    });
    const event = await crashWithLog(
      "cli-1",
      "listening\n2026/11/22 10:00:05 listen tcp :8080: bind: address already in use\n",
      { exitCode: 1, reason: "Error" },
    );
    const enrolled = await fetch(`${restate.ingressUrl}/Cluster/${CLUSTER}/enroll`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ clusterUID: "postmortem-test-uid" }),
    });
    expect(enrolled.status).toBe(200);
    const response = await fetch(`${restate.ingressUrl}/Ingest/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ events: [event] }),
    });
    expect(response.status).toBe(200);
    let captureId = "";
    await eventually(async () => {
      const rows = await restate.query<{ value_utf8: string }>(
        `SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND service_key = '${CLUSTER}:${event.signature}'`,
      );
      captureId = (JSON.parse(rows[0]!.value_utf8) as { lastCaptureId: string }).lastCaptureId;
      const status = await restate.query<{ value_utf8: string }>(
        `SELECT value_utf8 FROM state WHERE service_name = 'Capture' AND service_key = '${captureId}' AND key = 'status'`,
      );
      expect((JSON.parse(status[0]!.value_utf8) as CaptureStatus).phase).not.toBe("running");
    }, 60_000);
    const headline =
      "app in shop/cli-1: It could not listen on port 8080: the address is already in use.";

    const listed = await cli(
      "podmortem",
      "incidents",
      "--namespace",
      NS,
      "--since",
      "1h",
      "--json",
    );
    expect(listed.code, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout) as Array<{
      lastCapture: string;
      headline: string;
      count: number;
    }>;
    expect(rows.find((r) => r.lastCapture === captureId)).toMatchObject({ headline, count: 1 });
    const table = await cli("podmortem", "incidents");
    expect(table.stdout).toContain("HEADLINE");
    expect(table.stdout).toContain("It could not listen on port 8080");
    expect((await cli("podmortem", "incidents", "--namespace", "elsewhere")).stdout).toBe(
      `no incidents in cluster ${CLUSTER} namespace elsewhere\n`,
    );
    const badSince = await cli("podmortem", "incidents", "--since", "yesterday-ish");
    expect(badSince.code).toBe(3);
    expect(badSince.stderr).toBe(
      'podmortem incidents: --since: "yesterday-ish" is neither a duration like 6h nor a date\n',
    );

    const shown = await cli("podmortem", "show", captureId);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain("# Postmortem: app in shop/cli-1");
    expect(shown.stdout).toContain("**It could not listen on port 8080");
    const shownJson = await cli("podmortem", "show", captureId, "--json");
    expect(reportSchema.parse(JSON.parse(shownJson.stdout)).headline).toBe(headline);
    expect((await cli("podmortem", "show")).code).toBe(2);
    const unknown = await cli("podmortem", "show", "no-such-capture");
    expect([unknown.code, unknown.stderr]).toEqual([
      3,
      "podmortem show: no capture no-such-capture\n",
    ]);
    const down = await cli("podmortem", "show", captureId, "--restate-url", "http://127.0.0.1:9");
    expect(down.code).toBe(4);
    expect(down.stderr.split("\n")).toHaveLength(2);

    const forensic = await cli("kubectl-forensic", "show", "cli-1", "-n", NS);
    expect(forensic.code, forensic.stderr).toBe(0);
    expect(forensic.stdout).toBe(shown.stdout);
    const missing = await cli("kubectl-forensic", "show", "nobody", "-n", NS);
    expect(missing.code).toBe(3);

    // A report changed after the seal is refused by both.
    const status = (
      await restate.query<{ value_utf8: string }>(
        `SELECT value_utf8 FROM state WHERE service_name = 'Capture' AND service_key = '${captureId}' AND key = 'status'`,
      )
    )[0]!;
    const folder = (JSON.parse(status.value_utf8) as CaptureStatus).evidence!.folder;
    await new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: s3.credentials,
      forcePathStyle: true,
    }).send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `${folder}report.md`,
        Body: "# all fine, nothing to see\n",
      }),
    );
    const tampered = await cli("podmortem", "show", captureId);
    expect(tampered.code).toBe(5);
    expect(tampered.stderr).toContain("DOES NOT MATCH ITS CHAIN OF CUSTODY");
    expect(tampered.stdout).toBe("");
    expect((await cli("kubectl-forensic", "show", "cli-1", "-n", NS)).code).toBe(5);
  });
});

describe("on-demand capture: kubectl forensic capture, through the real kubectl", () => {
  /** `kubectl forensic capture …` as a user runs it, against cluster OD unless told otherwise. */
  const kubectlForensic = (...args: string[]) =>
    runProgram(KUBECTL, ["forensic", ...args], {
      env: {
        PATH: `${pluginDir}:${process.env.PATH ?? ""}`,
        HOME: pluginDir,
        KUBECONFIG: cluster.kubeconfigPath,
        PODMORTEM_RESTATE_URL: restate.ingressUrl,
        PODMORTEM_CLUSTER_NAME: OD,
      },
    });
  const statusOf = async (captureId: string): Promise<CaptureStatus | null> =>
    (await fetch(`${restate.ingressUrl}/Capture/${captureId}/status`, { method: "POST" }).then(
      (r) => r.json(),
    )) as CaptureStatus | null;
  const finished = async (captureId: string) => {
    let status: CaptureStatus | null = null;
    await eventually(async () => {
      status = await statusOf(captureId);
      expect(status?.finishedAt ?? null).not.toBeNull();
    }, 30_000);
    return status!;
  };
  const auditOf = async (captureId: string, kind: string) => {
    let detail: Record<string, unknown> = {};
    await eventually(async () => {
      const rows = await restate.query<{ value_utf8: string }>(
        `SELECT value_utf8 FROM state WHERE service_name = 'AuditLog' AND service_key = '${OD}' AND value_utf8 LIKE '%${captureId}%'`,
      );
      const entry = rows
        .map((r) => JSON.parse(r.value_utf8) as { kind?: string; detail?: Record<string, unknown> })
        .find((e) => e.kind === kind);
      expect(entry).toBeDefined();
      detail = entry!.detail!;
    }, 20_000);
    return detail;
  };
  const forensicCopiesOf = async (pod: string) =>
    (
      await core.listNamespacedPod({
        namespace: NS,
        labelSelector: "forensic.io/role=forensic-copy",
      })
    ).items.filter((p) => p.metadata?.annotations?.["forensic.io/source-pod"]?.endsWith(pod));
  const submit = (claim: Record<string, unknown>) =>
    fetch(`${restate.ingressUrl}/CaptureRequest/submit`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(claim),
    });

  it("captures a live pod now: sealed evidence, checkpoint and forensic copy, recorded as on-demand with who asked", async () => {
    await startPod("live-1");
    await running("live-1");
    kubelet.setLog(NS, "live-1", "app", { current: "serving\nslow request /cart 2.3s\n" });
    const checkpointsBefore = kubelet.checkpointRequests();
    const run = await kubectlForensic(
      "capture",
      "live-1",
      "-n",
      NS,
      "--checkpoint",
      "--copy",
      "--json",
    );
    expect(run.code, run.stderr).toBe(0);
    const answer = JSON.parse(run.stdout) as {
      captureId: string;
      phase: string;
      requestId: string;
      requestedBy: string;
      identitySource: string;
      evidence: string;
      checkpoint: string;
      forensicPod: string;
      headline: string;
    };
    // The 1.20 API server serves no SelfSubjectReview: the kubeconfig's names, said to be so.
    const asUser = new KubeConfig();
    asUser.loadFromFile(cluster.kubeconfigPath);
    const user = `${asUser.getCurrentUser()!.name} (context ${asUser.getCurrentContext()})`;
    expect(answer).toMatchObject({
      phase: "succeeded",
      requestedBy: user,
      identitySource: "kubeconfig",
      headline: `On-demand capture of ${NS}/live-1, requested by ${user}`,
    });
    expect(answer.captureId).toMatch(/^pm-od-[0-9a-f]{24}$/);
    expect(kubelet.checkpointRequests()).toBe(checkpointsBefore + 1);

    const status = (await statusOf(answer.captureId))!;
    expect(status.trigger).toMatchObject({ kind: "on-demand", requestedBy: user });
    expect(status.steps.find((s) => s.name === "restart pod")?.outcome).toBe("skipped");
    const folder = status.evidence!.folder;
    expect(answer.evidence).toBe(`s3://${s3.bucket}/${folder}custody.json`);
    const custody = custodySchema.parse(
      JSON.parse((await s3.getObjectBytes(`${folder}custody.json`)).toString()),
    );
    expect(sha256(await s3.getObjectBytes(`${folder}custody.json`))).toBe(
      status.evidence!.custodySha256,
    );
    expect(custody.trigger).toEqual({
      kind: "on-demand",
      requestId: answer.requestId,
      requestedBy: user,
      identitySource: "kubeconfig",
      requestedAt: expect.any(String) as string,
    });
    const names = custody.artifacts.map((a) => a.name);
    expect(names).toEqual(
      expect.arrayContaining(["crash.log", "pod.json", "checkpoint-app.tar", "report.json"]),
    );
    for (const artifact of custody.artifacts.filter((a) => a.name !== "checkpoint-app.tar"))
      expect(sha256(await s3.getObjectBytes(artifact.key))).toBe(artifact.sha256);
    expect(answer.checkpoint).toBe(`s3://${s3.bucket}/${folder}checkpoint-app.tar`);
    const report = reportSchema.parse(
      JSON.parse((await s3.getObjectBytes(`${folder}report.json`)).toString()),
    );
    expect(report.headline).toBe(answer.headline);
    expect(report.trigger).toMatchObject({ kind: "on-demand", requestedBy: user });
    const markdown = (await s3.getObjectBytes(`${folder}report.md`)).toString();
    expect(markdown).toContain("# On-demand capture: app in shop/live-1");
    expect(markdown).not.toContain("| Crash |");
    const [copy] = await forensicCopiesOf("live-1");
    expect(answer.forensicPod).toBe(`${NS}/${copy!.metadata!.name!}`);

    expect(await auditOf(answer.captureId, "capture.requested")).toMatchObject({
      requestId: answer.requestId,
      requestedBy: user,
      identitySource: "kubeconfig",
      granted: true,
    });

    // One capture per pod container per window, on request as after a crash.
    const again = await kubectlForensic("capture", "live-1", "-n", NS, "--checkpoint");
    expect(again.code).toBe(6);
    expect(again.stdout).toContain(
      `refused: container app of pod ${NS}/live-1 was captured by ${answer.captureId}`,
    );
    expect(kubelet.checkpointRequests()).toBe(checkpointsBefore + 1);

    // The same pointer again (a retry, or a replay through the ingress) is the same capture.
    const resent = await submit({
      cluster: OD,
      namespace: NS,
      pod: "live-1",
      podUID: custody.source.podUID,
      requestId: answer.requestId,
    });
    expect(await resent.json()).toEqual({ captureId: answer.captureId });
    // A workflow key has one `run` invocation (Restate derives its id from the key): the resent
    // pointer joins it rather than starting another.
    const runs = await restate.query<{ status: string }>(
      `SELECT status FROM sys_invocation WHERE target_service_name = 'Capture' AND target_service_key = '${answer.captureId}' AND target_handler_name = 'run'`,
    );
    expect(runs).toEqual([{ status: "completed" }]);
    expect((await statusOf(answer.captureId))!.startedAt).toBe(status.startedAt);
    expect(kubelet.checkpointRequests()).toBe(checkpointsBefore + 1);
  });

  it("refuses a podmortem pod and an excluded namespace, with exit 6 and nothing created", async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: {
          name: "own-copy",
          labels: { "app.kubernetes.io/managed-by": "podmortem" },
          annotations: { "fake-kubelet/scenario": "healthy" },
        },
        spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
      },
    });
    await core.createNamespacedPod({
      namespace: EXCLUDED_NS,
      body: {
        metadata: { name: "quiet-1", annotations: { "fake-kubelet/scenario": "healthy" } },
        spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
      },
    });
    await running("own-copy");
    const checkpointsBefore = kubelet.checkpointRequests();
    const [own, quiet] = await Promise.all([
      kubectlForensic("capture", "own-copy", "-n", NS, "--checkpoint", "--copy"),
      kubectlForensic("capture", "quiet-1", "-n", EXCLUDED_NS, "--checkpoint", "--copy"),
    ]);
    expect([own.code, quiet.code], own.stderr + quiet.stderr).toEqual([6, 6]);
    expect(own.stdout).toContain("is podmortem's own");
    expect(quiet.stdout).toContain(`namespace ${EXCLUDED_NS} is excluded by the config`);
    // The refused captures have ended (the barrier): nothing was made while they ran.
    for (const out of [own.stdout, quiet.stdout]) {
      const captureId = /^capture (\S+): refused$/m.exec(out)![1]!;
      const status = (await statusOf(captureId))!;
      expect([status.phase, status.evidence, status.forensicPod]).toEqual(["refused", null, null]);
    }
    expect(kubelet.checkpointRequests()).toBe(checkpointsBefore);
    expect(await forensicCopiesOf("own-copy")).toEqual([]);
  });

  it("refuses a forged pointer through Restate's ingress: no request on the pod, or another id", async () => {
    await startPod("live-2");
    const pod = await running("live-2");
    const checkpointsBefore = kubelet.checkpointRequests();
    const claim = {
      cluster: OD,
      namespace: NS,
      pod: "live-2",
      podUID: pod.metadata!.uid!,
      requestId: randomBytes(16).toString("hex"),
    };
    const noRequest = await submit(claim);
    expect(noRequest.status).toBe(200);
    const unasked = await finished(((await noRequest.json()) as { captureId: string }).captureId);
    expect(unasked.phase).toBe("refused");
    expect(unasked.claim!.detail).toBe(
      `pod ${NS}/live-2 has no forensic.io/capture-request annotation: nobody asked for this capture on the pod`,
    );

    // A real request is on the pod; the forged pointer names another id.
    const written = randomBytes(16).toString("hex");
    await core.patchNamespacedPod(
      {
        name: "live-2",
        namespace: NS,
        body: {
          metadata: {
            annotations: {
              "forensic.io/capture-request": JSON.stringify({
                id: written,
                container: "app",
                checkpoint: true,
                copy: true,
                requestedBy: "alice",
                identitySource: "kubeconfig",
                requestedAt: new Date().toISOString(),
              }),
            },
          },
        },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const forged = { ...claim, requestId: randomBytes(16).toString("hex") };
    const otherId = await submit(forged);
    const mismatched = await finished(((await otherId.json()) as { captureId: string }).captureId);
    expect(mismatched.phase).toBe("refused");
    expect(mismatched.claim!.detail).toBe(
      `forensic.io/capture-request on ${NS}/live-2 is request ${written}, not ${forged.requestId}`,
    );
    const wrongUid = await submit({ ...claim, requestId: written, podUID: "not-the-uid" });
    const replaced = await finished(((await wrongUid.json()) as { captureId: string }).captureId);
    expect(replaced.claim!.detail).toContain("the request names not-the-uid");
    // All three have ended (the barrier): no step past the check ran, nothing was made.
    for (const status of [unasked, mismatched, replaced]) {
      expect(status.steps.map((s) => s.name)).toEqual(["read pod", "confirm request"]);
      expect([status.evidence, status.forensicPod, status.checkpoint]).toEqual([null, null, null]);
    }
    expect(kubelet.checkpointRequests()).toBe(checkpointsBefore);
    expect(await forensicCopiesOf("live-2")).toEqual([]);
    expect(await auditOf(mismatched.captureId, "capture.finished")).toMatchObject({
      outcome: "refused",
      claim: { kind: "refused", detail: mismatched.claim!.detail },
    });

    const invalid = await submit({ ...claim, requestId: "x" });
    expect(invalid.status).toBe(400);
    expect(await invalid.text()).toContain("requestId: must be 32 lowercase hex characters");
  });

  it("--help, --no-wait and every mistake: one sentence and its exit code", async () => {
    await startPod("live-3");
    await running("live-3");
    // Each run is a Node process on a shared 2-core machine: the usage mistakes (no POD, a bad
    // --timeout) are unit-tested, these are the ones that need the servers.
    const [help, unknown, noContainer, down, queued] = await Promise.all([
      kubectlForensic("capture", "--help"),
      kubectlForensic("capture", "nobody", "-n", NS),
      kubectlForensic("capture", "live-3", "-n", NS, "-c", "sidecar"),
      kubectlForensic("capture", "live-3", "-n", NS, "--restate-url", "http://127.0.0.1:9"),
      kubectlForensic("capture", "live-3", "-n", NS, "--no-wait"),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("kubectl forensic capture POD [-n NAMESPACE] [-c CONTAINER]");
    expect([unknown.code, unknown.stderr]).toEqual([
      3,
      `kubectl forensic: no pod nobody in namespace ${NS}\n`,
    ]);
    expect([noContainer.code, noContainer.stderr]).toEqual([
      3,
      `kubectl forensic: -c: pod ${NS}/live-3 has no container sidecar; it has app\n`,
    ]);
    expect(down.code).toBe(4);
    expect(down.stderr).toMatch(
      /^kubectl forensic: request [0-9a-f]{32} is written on pod shop\/live-3, but Restate at http:\/\/127\.0\.0\.1:9 did not take it \(.*\): point --restate-url or \$PODMORTEM_RESTATE_URL at Restate's ingress \(kubectl port-forward will do\) and run the command again\n$/,
    );
    expect(queued.code, queued.stderr).toBe(0);
    expect(queued.stdout).toMatch(
      /^capture pm-od-[0-9a-f]{24} requested by .+, request [0-9a-f]{32}\n$/,
    );
    for (const run of [help, unknown, noContainer, down, queued])
      expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

function cli(bin: "podmortem" | "kubectl-forensic", ...args: string[]): Promise<CliRun> {
  const connection =
    bin === "podmortem"
      ? ["--cluster", CLUSTER, "--admin-url", restate.adminUrl, "--restate-url", restate.ingressUrl]
      : [];
  return runBinScript(`${bin}.js`, [...args.slice(0, 1), ...connection, ...args.slice(1)], {
    env: { PATH: process.env.PATH, KUBECONFIG: cluster.kubeconfigPath, ...s3ClientEnv(s3) },
  });
}
