import {
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  ApiextensionsV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { custodySchema } from "../../src/evidence/custody.ts";
import { createS3Client, createS3Store } from "../../src/evidence/s3-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import type { RemoteConfigInput } from "../../src/model/remote-config.ts";
import type { CaptureStatus } from "../../workflows/capture.workflow.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { lastTerminationOf, makePodEvent } from "../fixtures/pod-events.ts";
import { CaptureDriver, captureWorkflowOf } from "../harness/capture-driver.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { startS3, type S3Harness } from "../harness/s3-server.ts";
import { setConfig } from "./watcher-helpers.ts";

const CLUSTER = "cap";
const NS = "shop";
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let s3: S3Harness;
let restate: RestateHarness;
let restricted: RestateHarness;
let kc: KubeConfig;
let core: CoreV1Api;
const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

function servicesFor(kubeConfig: KubeConfig) {
  const client = createS3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
  });
  const services = createServices({
    kube: createKubeAccess(kubeConfig),
    store: createS3Store({ client, bucket: s3.bucket }),
    metrics: createWorkflowMetrics(),
    evidencePrefix: undefined,
    identity: "capture-test",
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
        group: "snapshot.storage.k8s.io",
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
    await kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
      group: "snapshot.storage.k8s.io",
      version: "v1",
      namespace: NS,
      plural: "volumesnapshots",
    });
  }, 20_000);
}

/** Plays the snapshot controller: every snapshot becomes ready to use. */
function snapshotController(): () => void {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const timer = setInterval(() => {
    void custom
      .listNamespacedCustomObject({
        group: "snapshot.storage.k8s.io",
        version: "v1",
        namespace: NS,
        plural: "volumesnapshots",
      })
      .then(async (list) => {
        for (const item of (
          list as {
            items: Array<{ metadata: { name: string }; status?: { readyToUse?: boolean } }>;
          }
        ).items) {
          if (item.status?.readyToUse) continue;
          await custom.patchNamespacedCustomObject(
            {
              group: "snapshot.storage.k8s.io",
              version: "v1",
              namespace: NS,
              plural: "volumesnapshots",
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

async function capture(
  harness: RestateHarness,
  event: ReturnType<typeof makePodEvent>,
  id: string,
): Promise<CaptureStatus> {
  const workflow = captureWorkflowOf(harness.ingressUrl, id);
  await workflow.workflowSubmit({ event, incidentKey: `${event.cluster}:${event.signature}` });
  return workflow.workflowAttach();
}

async function crashingPod(name: string, extra: { volumes?: boolean; owned?: boolean } = {}) {
  if (extra.volumes) {
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
        annotations: { "fake-kubelet/scenario": "healthy" },
        ...(extra.owned
          ? {
              ownerReferences: [
                {
                  apiVersion: "apps/v1",
                  kind: "ReplicaSet",
                  name: "shop-rs",
                  uid: "00000000-0000-0000-0000-000000000001",
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
            image: "registry.example/app:1",
            command: ["/app"],
            livenessProbe: { httpGet: { path: "/healthz", port: 8080 } },
            ...(extra.volumes ? { volumeMounts: [{ name: "data", mountPath: "/data" }] } : {}),
          },
        ],
        ...(extra.volumes
          ? { volumes: [{ name: "data", persistentVolumeClaim: { claimName: `${name}-data` } }] }
          : {}),
      },
    },
  });
  await eventually(async () => {
    const pod = await core.readNamespacedPod({ name, namespace: NS });
    expect(pod.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
  }, 20_000);
  await kubelet.crashNow(NS, name, "app", { exitCode: 1, reason: "Error" });
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
  await setConfig(restate, CLUSTER, { capture });
  await setConfig(restricted, CLUSTER, { capture });
}

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startKubeCluster(), startS3()]);
  kc = cluster.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  kubelet = await startFakeKubelet(cluster, {
    nodes: ["node-a"],
    checkpointBytes: 3 * 1024 * 1024,
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
  restate = await startRestate({ services: servicesFor(kc) });
  restricted = await startRestate({
    services: servicesFor(cluster.kubeConfigForToken(cluster.restrictedToken)),
  });
}, 120_000);

afterAll(async () => {
  await restricted?.[Symbol.asyncDispose]();
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  await s3?.[Symbol.asyncDispose]();
});

describe("the Capture workflow", () => {
  it("salvages evidence, snapshots, a checkpoint and a sealed forensic copy", async () => {
    await setCaptureConfig({
      steps: { checkpoint: true },
      checkpoint: { deleteFromNode: false },
      forensicPod: { ttlS: 3600 },
    });
    const stopController = snapshotController();
    const event = await crashingPod("checkout-1", { volumes: true });
    await kubelet.runNow(NS, "checkout-1", "app");
    const status = await capture(restate, event, "pm-full").finally(stopController);

    expect(status.steps.filter((s) => s.outcome === "failed")).toEqual([]);
    expect(status.phase).toBe("succeeded");
    expect(status.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining([
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
      ]),
    );

    const folder = status.evidence!.folder;
    const keys = await s3.listKeys(folder);
    expect(keys.map((k) => k.slice(folder.length)).sort()).toEqual(
      [
        "checkpoint-app.tar",
        "containers/app.log",
        "containers/app.previous.log",
        "crash.log",
        "custody.json",
        "events.json",
        "node.json",
        "pod.json",
        "report.json",
        "report.md",
      ].sort(),
    );
    const crashLog = await s3.getObjectBytes(`${folder}crash.log`);
    expect(crashLog.equals(kubelet.previousLog(NS, "checkout-1", "app"))).toBe(true);
    const custodyBytes = await s3.getObjectBytes(`${folder}custody.json`);
    const custody = custodySchema.parse(JSON.parse(custodyBytes.toString()));
    for (const artifact of custody.artifacts) {
      expect(sha256(await s3.getObjectBytes(artifact.key)), artifact.name).toBe(artifact.sha256);
    }
    const archive = readdirSync(kubelet.checkpointDir).find((f) =>
      f.startsWith("checkpoint-checkout-1_shop-app"),
    )!;
    const tarOnNode = readFileSync(`${kubelet.checkpointDir}/${archive}`);
    expect(custody.artifacts.find((a) => a.name === "checkpoint-app.tar")?.sha256).toBe(
      sha256(tarOnNode),
    );

    const forensic = await core.readNamespacedPod({ name: "forensic-pm-full", namespace: NS });
    const annotations = forensic.metadata!.annotations!;
    expect(annotations["forensic.io/log-sha256"]).toBe(sha256(crashLog));
    expect(annotations["forensic.io/bundle-sha256"]).toBe(sha256(custodyBytes));
    expect(annotations["forensic.io/evidence"]).toBe(`s3://${s3.bucket}/${folder}custody.json`);
    expect(annotations["forensic.io/snapshots"]).toBe("pm-full-checkout-1-data");
    expect(annotations["forensic.io/checkpoint"]).toContain(
      `s3://${s3.bucket}/${folder}checkpoint-app.tar`,
    );
    expect(annotations["forensic.io/source-pod"]).toBe(`${NS}/checkout-1`);
    const container = forensic.spec!.containers[0]!;
    expect(container.command).toEqual(["sleep", "3600"]);
    expect(container.livenessProbe).toBeUndefined();
    expect(container.securityContext?.capabilities?.drop).toEqual(["ALL"]);
    expect(forensic.spec!.automountServiceAccountToken).toBe(false);
    expect(forensic.metadata!.labels).not.toHaveProperty("app");
    expect(
      forensic.spec!.volumes?.find((v) => v.name === "data")?.persistentVolumeClaim?.claimName,
    ).toBe("pm-full-checkout-1-data-restored");

    const restored = await core.readNamespacedPersistentVolumeClaim({
      name: "pm-full-checkout-1-data-restored",
      namespace: NS,
    });
    expect(restored.spec?.dataSource).toMatchObject({
      kind: "VolumeSnapshot",
      name: "pm-full-checkout-1-data",
    });
    const policy = await kc
      .makeApiClient(NetworkingV1Api)
      .readNamespacedNetworkPolicy({ name: "forensic-pm-full-deny-all", namespace: NS });
    expect(policy.spec).toMatchObject({
      policyTypes: ["Ingress", "Egress"],
      podSelector: { matchLabels: { "forensic.io/capture-id": "pm-full" } },
    });
    expect(policy.spec?.ingress ?? []).toEqual([]);
    await eventually(async () => {
      const retrievers = await core.listNamespacedPod({ namespace: "podmortem" });
      expect(retrievers.items).toHaveLength(0);
    }, 10_000);
  });

  it("finishes a capture whose endpoint died mid-way, without a second object", async () => {
    await setCaptureConfig({
      steps: { checkpoint: true, snapshots: false },
      checkpoint: { deleteFromNode: true },
    });
    const event = await crashingPod("checkout-2");
    await kubelet.runNow(NS, "checkout-2", "app");
    const workflow = captureWorkflowOf(restate.ingressUrl, "pm-replay");
    await workflow.workflowSubmit({ event, incidentKey: "x" });
    // While it waits for the retriever, the workflows process goes away and comes back.
    await eventually(
      async () => {
        const rows = await restate.query<{ name: string }>(
          "SELECT name FROM sys_journal WHERE name = 'start retriever'",
        );
        expect(rows.length).toBeGreaterThan(0);
      },
      30_000,
      50,
    );
    await restate.stopEndpoint();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await restate.startEndpoint();
    const status = await workflow.workflowAttach();
    expect(status.phase).toBe("succeeded");
    const forensicPods = await core.listNamespacedPod({
      namespace: NS,
      labelSelector: "forensic.io/capture-id=pm-replay",
    });
    expect(forensicPods.items).toHaveLength(1);
    expect(
      (await s3.listKeys(status.evidence!.folder)).filter((k) => k.endsWith(".tar")),
    ).toHaveLength(1);
    expect(
      readdirSync(kubelet.checkpointDir).filter((f) => f.startsWith("checkpoint-checkout-2_")),
    ).toEqual([]);
  });

  it("survives restate-server being killed mid-capture, and S3 throttling", async () => {
    await setCaptureConfig({ steps: { checkpoint: false, snapshots: false } });
    const event = await crashingPod("checkout-3");
    const throttledBefore = s3.throttledCount();
    s3.failNext(4);
    const workflow = captureWorkflowOf(restate.ingressUrl, "pm-restart");
    await workflow.workflowSubmit({ event, incidentKey: "x" });
    await restate.restartServer();
    const status = await eventually(async () => {
      const output = await workflow.workflowOutput();
      expect(output.ready).toBe(true);
      return output.result;
    }, 60_000);
    expect(status.phase).toBe("succeeded");
    // The fault happened: the capture's uploads met exactly the four 503s.
    expect(s3.throttledCount() - throttledBefore).toBe(4);
    expect(await s3.getObjectBytes(`${status.evidence!.folder}crash.log`)).toEqual(
      kubelet.previousLog(NS, "checkout-3", "app"),
    );
  });

  it("salvages what it can of a vanished pod, creates nothing and calls it unconfirmed", async () => {
    const event = makePodEvent({
      cluster: CLUSTER,
      namespace: NS,
      pod: "gone-1",
      podUID: "gone-uid",
    });
    const status = await capture(restate, event, "pm-gone");
    const failed = status.steps.filter((s) => s.outcome === "failed").map((s) => s.name);
    expect(failed).toEqual(
      expect.arrayContaining(["read pod", "confirm claim", "capture pod manifest"]),
    );
    expect(status.steps.find((s) => s.name === "read pod")?.detail).toContain("no longer exists");
    expect(status.steps.find((s) => s.name === "seal custody")?.outcome).toBe("ok");
    expect(status.steps.find((s) => s.name === "create forensic pod")).toMatchObject({
      outcome: "skipped",
      detail: expect.stringContaining("unconfirmed"),
    });
    expect(status.phase).toBe("unconfirmed");
  });

  it("stops at a 403 from RBAC at once and says why", async () => {
    const event = await crashingPod("checkout-4");
    const started = Date.now();
    const status = await capture(restricted, event, "pm-forbidden");
    expect(Date.now() - started).toBeLessThan(20_000);
    const read = status.steps.find((s) => s.name === "read pod")!;
    expect(read.outcome).toBe("failed");
    expect(read.detail).toMatch(/^403: .*forbidden/);
    const journal = await restricted.query<{ name: string }>(
      "SELECT j.name FROM sys_journal j JOIN sys_invocation i ON j.id = i.id WHERE i.target_service_key = 'pm-forbidden' AND j.name = 'read pod'",
    );
    expect(journal).toHaveLength(1);
  });

  it("restarts an owned pod after salvage and leaves a bare one alone", async () => {
    await setCaptureConfig({
      steps: { restartAfterSalvage: true, snapshots: false, forensicPod: false },
    });
    const owned = await crashingPod("owned-1", { owned: true });
    const bare = await crashingPod("bare-1");
    const ownedStatus = await capture(restate, owned, "pm-owned");
    const bareStatus = await capture(restate, bare, "pm-bare");
    expect(ownedStatus.steps.find((s) => s.name === "restart pod")).toMatchObject({
      outcome: "ok",
    });
    expect(bareStatus.steps.find((s) => s.name === "restart pod")).toMatchObject({
      outcome: "skipped",
    });
    await eventually(async () => {
      await expect(
        core.readNamespacedPod({ name: "owned-1", namespace: NS }),
      ).rejects.toMatchObject({ code: 404 });
    }, 10_000);
    expect((await core.readNamespacedPod({ name: "bare-1", namespace: NS })).metadata?.name).toBe(
      "bare-1",
    );
  });
});
