import type { CoreV1Api } from "@kubernetes/client-node";
import {
  AuthorizationV1Api,
  NetworkingV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type V1PolicyRule,
} from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { custodySchema } from "../../src/evidence/custody.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import type { RemoteConfigInput } from "../../src/model/remote-config.ts";
import { createWorkflowMetrics, type WorkflowMetrics } from "../../workflows/metrics.ts";
import {
  captureClient,
  captureServices,
  crashedPod as crashPod,
  runCapture,
  setCaptureConfig as configure,
  startCaptureBed,
  startSnapshotController,
  type CaptureBed,
} from "../harness/capture-fixture.ts";
import { eventually } from "../harness/eventually.ts";
import type { FakeKubelet } from "../harness/fake-kubelet.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import type { S3Harness } from "../harness/s3-server.ts";

const CLUSTER = "hard";
const NS = "orders";
let bed: CaptureBed;
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

const workflowOf = (harness: RestateHarness, id: string) => captureClient(harness.ingressUrl, id);
const capture = (harness: RestateHarness, event: PodEvent, id: string) =>
  runCapture(harness.ingressUrl, event, id);
const setCaptureConfig = (config: RemoteConfigInput["capture"]) =>
  configure([admin, restricted], CLUSTER, config);
const snapshotController = () => startSnapshotController(kc, NS);

/** A pod that crashed and whose container runs again (a crash loop's running window). */
async function crashedPod(name: string, options: { volume?: boolean; owned?: boolean } = {}) {
  const event = await crashPod({ core, kubelet, cluster: CLUSTER, namespace: NS }, name, options);
  await kubelet.runNow(NS, name, "app");
  return event;
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
  bed = await startCaptureBed(NS, { checkpointBytes: 2 * 1024 * 1024 });
  ({ kubelet, s3, kc, core } = bed);
  const identity = "capture-hardening-test";
  adminMetrics = createWorkflowMetrics();
  admin = await startRestate({
    services: captureServices(kc, s3, { identity, metrics: adminMetrics }),
  });
  restricted = await startRestate({
    services: captureServices(bed.cluster.kubeConfigForToken(bed.cluster.restrictedToken), s3, {
      identity,
    }),
  });
}, 180_000);

afterAll(async () => {
  await restricted?.[Symbol.asyncDispose]();
  await admin?.[Symbol.asyncDispose]();
  await bed?.[Symbol.asyncDispose]();
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
        "WHERE target_service_key = 'pm-ttl' AND target_handler_name = 'removeCopyAtTtl'",
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
