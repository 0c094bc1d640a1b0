import {
  ApiextensionsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type KubeConfig,
  type V1PolicyRule,
} from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { custodySchema } from "../../src/evidence/custody.ts";
import { createS3Client, createS3Store } from "../../src/evidence/s3-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import type { RemoteConfigInput } from "../../src/model/remote-config.ts";
import type { CaptureStatus } from "../../workflows/capture.workflow.ts";
import { createWorkflowMetrics, type WorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { lastTerminationOf, makePodEvent } from "../fixtures/pod-events.ts";
import { CaptureDriver, captureWorkflowOf } from "../harness/capture-driver.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { startS3, type S3Harness } from "../harness/s3-server.ts";
import { setConfig } from "./watcher-helpers.ts";

const CLUSTER = "hard";
const NS = "orders";
const SNAPSHOTS = { group: "snapshot.storage.k8s.io", version: "v1", plural: "volumesnapshots" };
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let s3: S3Harness;
let admin: RestateHarness;
let restricted: RestateHarness;
let adminMetrics: WorkflowMetrics;
let kc: KubeConfig;
let core: CoreV1Api;
const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

/** Exactly the workflows' rules of docs/rbac.md, as a ClusterRole for the restricted user. */
const WORKFLOWS_RULES: V1PolicyRule[] = [
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "create", "delete"] },
  { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
  { apiGroups: [""], resources: ["events"], verbs: ["list"] },
  { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["get", "list"] },
  { apiGroups: ["apps"], resources: ["controllerrevisions"], verbs: ["list"] },
  { apiGroups: [""], resources: ["nodes"], verbs: ["get"] },
  { apiGroups: [""], resources: ["nodes/checkpoint"], verbs: ["create"] },
  { apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["get", "create", "delete"] },
  {
    apiGroups: ["snapshot.storage.k8s.io"],
    resources: ["volumesnapshots"],
    verbs: ["create", "get", "delete"],
  },
  { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["create", "delete"] },
];

function servicesFor(kubeConfig: KubeConfig, metrics: WorkflowMetrics) {
  const client = createS3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
  });
  const services = createServices({
    kube: createKubeAccess(kubeConfig),
    store: createS3Store({ client, bucket: s3.bucket }),
    metrics,
    evidencePrefix: undefined,
    identity: "capture-hardening-test",
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
  });
  return [...services, CaptureDriver];
}

async function installSnapshotCrd() {
  await kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({
    body: {
      metadata: {
        name: "volumesnapshots.snapshot.storage.k8s.io",
        annotations: {
          "api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter",
        },
      },
      spec: {
        group: SNAPSHOTS.group,
        scope: "Namespaced",
        names: {
          plural: "volumesnapshots",
          singular: "volumesnapshot",
          kind: "VolumeSnapshot",
          listKind: "VolumeSnapshotList",
        },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: { type: "object", x_kubernetes_preserve_unknown_fields: true },
            },
          },
        ],
      },
    },
  });
  await eventually(async () => {
    await kc
      .makeApiClient(CustomObjectsApi)
      .listNamespacedCustomObject({ ...SNAPSHOTS, namespace: NS });
  }, 20_000);
}

/** Plays the snapshot controller: every snapshot becomes ready to use. */
function snapshotController(): () => void {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const timer = setInterval(() => {
    void custom
      .listNamespacedCustomObject({ ...SNAPSHOTS, namespace: NS })
      .then(async (list) => {
        const items = (
          list as {
            items: Array<{ metadata: { name: string }; status?: { readyToUse?: boolean } }>;
          }
        ).items;
        for (const item of items) {
          if (item.status?.readyToUse) continue;
          await custom.patchNamespacedCustomObject(
            {
              ...SNAPSHOTS,
              namespace: NS,
              name: item.metadata.name,
              body: { status: { readyToUse: true } },
            },
            setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
          );
        }
      })
      .catch(() => undefined);
  }, 300);
  return () => clearInterval(timer);
}

function workflowOf(harness: RestateHarness, id: string) {
  return captureWorkflowOf(harness.ingressUrl, id);
}

async function capture(
  harness: RestateHarness,
  event: ReturnType<typeof makePodEvent>,
  id: string,
): Promise<CaptureStatus> {
  const workflow = workflowOf(harness, id);
  await workflow.workflowSubmit({ event, incidentKey: `${event.cluster}:${event.signature}` });
  return workflow.workflowAttach();
}

/** A pod that crashed and whose container runs again (a crash loop's running window). */
async function crashedPod(name: string, options: { volume?: boolean; owned?: boolean } = {}) {
  if (options.volume) {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: NS,
      body: {
        metadata: { name: `${name}-data` },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    });
  }
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: {
        name,
        labels: { app: "orders" },
        annotations: { "fake-kubelet/scenario": "healthy" },
        ...(options.owned
          ? {
              ownerReferences: [
                {
                  apiVersion: "apps/v1",
                  kind: "ReplicaSet",
                  name: "orders-rs",
                  uid: "00000000-0000-0000-0000-000000000002",
                  controller: true,
                },
              ],
            }
          : {}),
      },
      spec: {
        containers: [
          {
            name: "app",
            image: "registry.example/orders:1",
            ...(options.volume ? { volumeMounts: [{ name: "data", mountPath: "/data" }] } : {}),
          },
        ],
        ...(options.volume
          ? { volumes: [{ name: "data", persistentVolumeClaim: { claimName: `${name}-data` } }] }
          : {}),
      },
    },
  });
  await eventually(async () => {
    const pod = await core.readNamespacedPod({ name, namespace: NS });
    expect(pod.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
  }, 20_000);
  await kubelet.crashNow(NS, name, "app", { exitCode: 2, reason: "Error" });
  await kubelet.runNow(NS, name, "app");
  const pod = await core.readNamespacedPod({ name, namespace: NS });
  return makePodEvent({
    cluster: CLUSTER,
    namespace: NS,
    pod: name,
    podUID: pod.metadata!.uid!,
    node: pod.spec!.nodeName!,
    container: "app",
    ...lastTerminationOf(pod, "app"),
    workload: { kind: "Pod", name },
  });
}

/** Many captures in one namespace here: capture.limits (tested in attack.test.ts) stay out of the way. */
const NO_LIMITS = { forensicCopiesPerNamespace: 1000, capturesPerMinute: 10_000 };

async function setCaptureConfig(config: RemoteConfigInput["capture"]) {
  const capture = { limits: NO_LIMITS, ...config };
  await setConfig(admin, CLUSTER, { capture });
  await setConfig(restricted, CLUSTER, { capture });
}

type Readable = {
  get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }>;
};

async function counterValue(metric: Readable, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))
    .reduce((sum, v) => sum + v.value, 0);
}

async function canRestricted(verb: string, group: string, resource: string): Promise<boolean> {
  const review = await kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: {
      spec: { user: "restricted", resourceAttributes: { verb, group, resource, namespace: NS } },
    },
  });
  return review.status?.allowed === true;
}

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startKubeCluster(), startS3()]);
  kc = cluster.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  kubelet = await startFakeKubelet(cluster, {
    nodes: ["node-a"],
    checkpointBytes: 2 * 1024 * 1024,
  });
  for (const name of [NS, "podmortem"])
    await core.createNamespace({ body: { metadata: { name } } });
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
  await installSnapshotCrd();
  adminMetrics = createWorkflowMetrics();
  admin = await startRestate({ services: servicesFor(kc, adminMetrics) });
  restricted = await startRestate({
    services: servicesFor(
      cluster.kubeConfigForToken(cluster.restrictedToken),
      createWorkflowMetrics(),
    ),
  });
}, 180_000);

afterAll(async () => {
  await restricted?.[Symbol.asyncDispose]();
  await admin?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  await s3?.[Symbol.asyncDispose]();
});

describe("a capture under stress", () => {
  it("counts its failed step, its forensic pod and its bytes once although it was replayed", async () => {
    // No snapshot controller: the snapshot never becomes ready and its wait fails for good.
    await setCaptureConfig({
      steps: { checkpoint: true },
      snapshots: { readyTimeoutS: 1 },
      checkpoint: { deleteFromNode: false },
    });
    const event = await crashedPod("count-1", { volume: true });
    const workflow = workflowOf(admin, "pm-count");
    await workflow.workflowSubmit({ event, incidentKey: "x" });
    await eventually(
      async () => {
        const rows = await admin.query<{ name: string }>(
          "SELECT j.name FROM sys_journal j JOIN sys_invocation i ON j.id = i.id " +
            "WHERE i.target_service_key = 'pm-count' AND j.name = 'start retriever'",
        );
        expect(rows.length).toBeGreaterThan(0);
      },
      60_000,
      50,
    );
    await admin.stopEndpoint();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await admin.startEndpoint();
    const status = await workflow.workflowAttach();

    expect(status.steps.find((s) => s.name === "wait for snapshots")).toMatchObject({
      outcome: "failed",
      detail: expect.stringContaining("not ready to use after 1 s"),
    });
    expect(status.steps.find((s) => s.name === "exfiltrate checkpoint")?.outcome).toBe("ok");
    expect(status.phase).toBe("partial");
    const labels = { source_namespace: NS };
    expect(
      await counterValue(adminMetrics.podCreationErrors, { ...labels, step: "wait for snapshots" }),
    ).toBe(1);
    expect(await counterValue(adminMetrics.podCreationErrors, labels)).toBe(1);
    expect(await counterValue(adminMetrics.podsCreated, labels)).toBe(1);
    expect(await counterValue(adminMetrics.bytesStored, { kind: "checkpoint" })).toBe(
      status.evidence!.artifacts.find((a) => a.name === "checkpoint-app.tar")!.size,
    );
    expect(kubelet.checkpointRequests()).toBe(1);
    const forensic = await core.listNamespacedPod({
      namespace: NS,
      labelSelector: "forensic.io/capture-id=pm-count",
    });
    expect(forensic.items).toHaveLength(1);
  });

  it("exfiltrates a checkpoint while S3 throttles the retriever for a while", async () => {
    await setCaptureConfig({
      steps: { checkpoint: true, snapshots: false, forensicPod: false },
      checkpoint: { deleteFromNode: true },
    });
    const event = await crashedPod("throttle-1");
    const workflow = workflowOf(admin, "pm-throttle");
    await workflow.workflowSubmit({ event, incidentKey: "x" });
    // The archive is on the node: the retriever pod starts next, into 4 s of 503 SlowDown.
    const archive = await eventually(
      async () => {
        const name = readdirSync(kubelet.checkpointDir).find((f) =>
          f.startsWith("checkpoint-throttle-1_"),
        );
        if (!name) throw new Error("no archive yet");
        return Promise.resolve(name);
      },
      60_000,
      20,
    );
    const throttledBefore = s3.throttledCount();
    s3.failFor(4000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const onNode = readFileSync(`${kubelet.checkpointDir}/${archive}`);
    const status = await workflow.workflowAttach();

    expect(status.steps.find((s) => s.name === "exfiltrate checkpoint")).toMatchObject({
      outcome: "ok",
      detail: expect.stringContaining("removed from the node"),
    });
    const key = `${status.evidence!.folder}checkpoint-app.tar`;
    expect(sha256(await s3.getObjectBytes(key))).toBe(sha256(onNode));
    expect(status.checkpoint?.sha256).toBe(sha256(onNode));
    expect(readdirSync(kubelet.checkpointDir).filter((f) => f === archive)).toEqual([]);
    // The fault happened: the retriever's upload was answered 503 SlowDown, and got through.
    expect(s3.throttledCount()).toBeGreaterThan(throttledBefore);
  });

  it("starts another retriever when the first one dies, and stores the archive once", async () => {
    await setCaptureConfig({
      steps: { checkpoint: true, snapshots: false, forensicPod: false },
      checkpoint: { deleteFromNode: false },
    });
    const event = await crashedPod("retry-1");
    const workflow = workflowOf(admin, "pm-retry");
    // S3 throttles, so the first retriever is still at work when its pod is deleted.
    s3.failFor(6000);
    await workflow.workflowSubmit({ event, incidentKey: "x" });
    await eventually(
      async () => {
        const pod = await core.readNamespacedPod({
          name: "pm-retry-retriever",
          namespace: "podmortem",
        });
        expect(pod.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
      },
      60_000,
      50,
    );
    await core.deleteNamespacedPod({
      name: "pm-retry-retriever",
      namespace: "podmortem",
      gracePeriodSeconds: 0,
    });
    const status = await workflow.workflowAttach();

    const exfiltrate = status.steps.find((s) => s.name === "exfiltrate checkpoint")!;
    expect(exfiltrate.outcome).toBe("ok");
    expect(exfiltrate.detail).toMatch(/\(after attempt 1: /);
    expect(status.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining(["start retriever", "start retriever 2", "delete retriever 2"]),
    );
    const archive = readdirSync(kubelet.checkpointDir).find((f) =>
      f.startsWith("checkpoint-retry-1_"),
    )!;
    const onNode = readFileSync(`${kubelet.checkpointDir}/${archive}`);
    const folder = status.evidence!.folder;
    expect((await s3.listKeys(folder)).filter((k) => k.endsWith(".tar"))).toHaveLength(1);
    expect(sha256(await s3.getObjectBytes(`${folder}checkpoint-app.tar`))).toBe(sha256(onNode));
    await eventually(async () => {
      const left = await core.listNamespacedPod({
        namespace: "podmortem",
        labelSelector: "forensic.io/capture-id=pm-retry",
      });
      expect(left.items).toHaveLength(0);
    }, 10_000);
  });

  it("schedules the forensic copy's removal at its TTL, which deletes pod and policy", async () => {
    await setCaptureConfig({
      steps: { checkpoint: false, snapshots: false, forensicPod: true },
      forensicPod: { ttlS: 600 },
    });
    const event = await crashedPod("ttl-1");
    const before = Date.now();
    const status = await capture(admin, event, "pm-ttl");
    expect(status.forensicPod).toEqual({ namespace: NS, name: "forensic-pm-ttl" });
    const forensic = await core.readNamespacedPod({ name: "forensic-pm-ttl", namespace: NS });
    const expiresAt = Date.parse(forensic.metadata!.annotations!["forensic.io/expires-at"]!);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 600_000 - 1000);
    expect(forensic.spec?.activeDeadlineSeconds).toBe(600);

    // SELECT *: naming scheduled_start_at alone answers rows without it on restate 1.7.12.
    const scheduled = await admin.query<{ status: string; scheduled_start_at: string | null }>(
      "SELECT * FROM sys_invocation " +
        "WHERE target_service_key = 'pm-ttl' AND target_handler_name = 'expire'",
    );
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]!.status).toBe("scheduled");
    expect(Math.abs(Date.parse(scheduled[0]!.scheduled_start_at!) - expiresAt)).toBeLessThan(5000);

    // What the scheduled call does when its time comes, run now.
    await workflowOf(admin, "pm-ttl").expire();
    await expect(
      core.readNamespacedPod({ name: "forensic-pm-ttl", namespace: NS }),
    ).rejects.toMatchObject({ code: 404 });
    await expect(
      kc
        .makeApiClient(NetworkingV1Api)
        .readNamespacedNetworkPolicy({ name: "forensic-pm-ttl-deny-all", namespace: NS }),
    ).rejects.toMatchObject({ code: 404 });
  });

  it("refuses an archive over the size limit and says so, the rest sealed", async () => {
    await setCaptureConfig({
      steps: { checkpoint: true, snapshots: false, forensicPod: false },
      checkpoint: { maxBytes: 1024, deleteFromNode: true },
    });
    const event = await crashedPod("big-1");
    const status = await capture(admin, event, "pm-big");

    const exfiltrate = status.steps.find((s) => s.name === "exfiltrate checkpoint")!;
    expect(exfiltrate.outcome).toBe("failed");
    expect(exfiltrate.detail).toMatch(/over maxCheckpointBytes \(1024\)/);
    expect(status.phase).toBe("partial");
    const folder = status.evidence!.folder;
    expect((await s3.listKeys(folder)).filter((k) => k.endsWith(".tar"))).toEqual([]);
    const custody = custodySchema.parse(
      JSON.parse((await s3.getObjectBytes(`${folder}custody.json`)).toString()),
    );
    expect(custody.artifacts.map((a) => a.name)).toContain("crash.log");
    expect(custody.artifacts.map((a) => a.name)).not.toContain("checkpoint-app.tar");
    // Refused, and removed from the node: a memory image nobody will fetch.
    expect(exfiltrate.detail).toContain("removed from the node");
    expect(readdirSync(kubelet.checkpointDir).some((f) => f.startsWith("checkpoint-big-1_"))).toBe(
      false,
    );
    await eventually(async () => {
      const left = await core.listNamespacedPod({
        namespace: "podmortem",
        labelSelector: "forensic.io/capture-id=pm-big",
      });
      expect(left.items).toHaveLength(0);
    }, 10_000);
  });
});

describe("least-privilege RBAC", () => {
  it("runs every step with exactly the rules docs/rbac.md lists", async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: { metadata: { name: "podmortem-workflows" }, rules: WORKFLOWS_RULES },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: "podmortem-workflows" },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: "podmortem-workflows",
        },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "restricted" }],
      },
    });
    await eventually(async () => {
      expect(await canRestricted("create", "networking.k8s.io", "networkpolicies")).toBe(true);
    }, 10_000);
    await setCaptureConfig({
      steps: { checkpoint: true, restartAfterSalvage: true },
      checkpoint: { deleteFromNode: true },
    });
    const stop = snapshotController();
    const event = await crashedPod("rbac-1", { volume: true, owned: true });
    const status = await capture(restricted, event, "pm-rbac").finally(stop);

    expect(status.steps.filter((s) => s.outcome === "failed")).toEqual([]);
    expect(status.steps.filter((s) => s.outcome === "ok").map((s) => s.name)).toEqual(
      expect.arrayContaining([
        "read pod",
        "capture crash log",
        "capture log app",
        "capture pod manifest",
        "capture events",
        "capture node conditions",
        "create volume snapshots",
        "wait for snapshots",
        "restore volumes",
        "checkpoint container",
        "start retriever",
        "exfiltrate checkpoint",
        "seal custody",
        "create network policy",
        "create forensic pod",
        "restart pod",
      ]),
    );
    expect(
      (
        await kc.makeApiClient(NetworkingV1Api).listNamespacedNetworkPolicy({ namespace: NS })
      ).items.map((p) => p.metadata?.name),
    ).toContain("forensic-pm-rbac-deny-all");
  });

  it("records a 403 as a terminal failure with the API server's reason, and makes no unisolated copy", async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.replaceClusterRole({
      name: "podmortem-workflows",
      body: {
        metadata: { name: "podmortem-workflows" },
        rules: WORKFLOWS_RULES.filter((rule) => !rule.resources?.includes("networkpolicies")),
      },
    });
    await eventually(async () => {
      expect(await canRestricted("create", "networking.k8s.io", "networkpolicies")).toBe(false);
    }, 10_000);
    await setCaptureConfig({ steps: { checkpoint: false, snapshots: false } });
    const event = await crashedPod("rbac-2");
    const started = Date.now();
    const status = await capture(restricted, event, "pm-rbac-403");

    expect(Date.now() - started).toBeLessThan(20_000);
    const policy = status.steps.find((s) => s.name === "create network policy")!;
    expect(policy.outcome).toBe("failed");
    expect(policy.detail).toMatch(
      /^403: networkpolicies\.networking\.k8s\.io is forbidden: User "restricted" cannot create .*docs\/rbac\.md\)$/,
    );
    expect(status.steps.find((s) => s.name === "create forensic pod")).toMatchObject({
      outcome: "skipped",
      detail: "no network policy isolates it",
    });
    expect(status.steps.find((s) => s.name === "seal custody")?.outcome).toBe("ok");
    await expect(
      core.readNamespacedPod({ name: "forensic-pm-rbac-403", namespace: NS }),
    ).rejects.toMatchObject({ code: 404 });
    const journal = await restricted.query<{ name: string }>(
      "SELECT j.name FROM sys_journal j JOIN sys_invocation i ON j.id = i.id " +
        "WHERE i.target_service_key = 'pm-rbac-403' AND j.name = 'create network policy'",
    );
    expect(journal).toHaveLength(1);
  });
});
