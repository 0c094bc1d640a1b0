import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from "@kubernetes/client-node";
import { expect } from "vitest";

import { createS3Client, createS3Store } from "../../src/evidence/s3-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import type { RemoteConfigInput } from "../../src/model/remote-config.ts";
import type { CaptureStatus } from "../../workflows/capture.workflow.ts";
import { createWorkflowMetrics, type WorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { lastTerminationOf, makePodEvent } from "../fixtures/pod-events.ts";
import { setConfig } from "../integration/watcher-helpers.ts";
import { CaptureDriver, captureWorkflowOf } from "./capture-driver.ts";
import { eventually } from "./eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "./fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "./kube-cluster.ts";
import type { RestateHarness } from "./restate-server.ts";
import { startS3, type S3Harness } from "./s3-server.ts";

export const SNAPSHOT_API = {
  group: "snapshot.storage.k8s.io",
  version: "v1",
  plural: "volumesnapshots",
} as const;

/** The cluster, fake kubelet and S3 a capture runs against, as startCaptureBed leaves them. */
export type CaptureBed = AsyncDisposable & {
  cluster: KubeCluster;
  kubelet: FakeKubelet;
  s3: S3Harness;
  kc: KubeConfig;
  core: CoreV1Api;
};

/**
 * A cluster with one fake-kubelet node and an S3 bucket, the namespace the tests' pods run in,
 * podmortem's namespace with the retriever's S3 secret, and the snapshot CRD.
 */
export async function startCaptureBed(
  namespace: string,
  options: { checkpointBytes?: number } = {},
): Promise<CaptureBed> {
  // Whatever started is stopped again when a later part fails: no server outlives the run.
  const started: AsyncDisposable[] = [];
  const stopAll = async () => {
    for (const server of [...started].reverse()) await server[Symbol.asyncDispose]();
  };
  try {
    const [kube, bucket] = await Promise.allSettled([startKubeCluster(), startS3()]);
    for (const result of [bucket, kube])
      if (result.status === "fulfilled") started.push(result.value);
    if (kube.status === "rejected") throw kube.reason;
    if (bucket.status === "rejected") throw bucket.reason;
    const [cluster, s3] = [kube.value, bucket.value];
    const kc = cluster.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const kubelet = await startFakeKubelet(cluster, {
      nodes: ["node-a"],
      ...(options.checkpointBytes ? { checkpointBytes: options.checkpointBytes } : {}),
    });
    started.push(kubelet);
    for (const name of [namespace, "podmortem"])
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
    await installSnapshotCrd(kc, namespace);
    return { cluster, kubelet, s3, kc, core, [Symbol.asyncDispose]: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Many captures in one namespace: capture.limits (tested in attack.test.ts) stay out of the way. */
const NO_LIMITS = { forensicCopiesPerNamespace: 1000, capturesPerMinute: 10_000 };

/** The cluster's capture config, without limits, on each Restate that runs captures of it. */
export async function setCaptureConfig(
  harnesses: RestateHarness[],
  cluster: string,
  config: RemoteConfigInput["capture"],
): Promise<void> {
  for (const harness of harnesses)
    await setConfig(harness, cluster, { capture: { limits: NO_LIMITS, ...config } });
}

/** Where crashedPod puts its pod and whom it tells: the fake kubelet that runs it. */
export type PodScene = {
  core: CoreV1Api;
  kubelet: FakeKubelet;
  cluster: string;
  namespace: string;
};

/**
 * A pod whose container "app" (with a liveness probe and the label app=<name>) ran on the fake
 * kubelet and has just crashed, and the event the watcher would report of it. `volume` mounts a
 * claim "<name>-data" at /data; `owned` gives it a ReplicaSet as controller.
 */
export async function crashedPod(
  scene: PodScene,
  name: string,
  options: { volume?: boolean; owned?: boolean } = {},
): Promise<PodEvent> {
  const { core, kubelet, namespace } = scene;
  if (options.volume) {
    await core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: `${name}-data` },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    });
  }
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: {
        name,
        labels: { app: name },
        annotations: { "fake-kubelet/scenario": "healthy" },
        ...(options.owned
          ? {
              ownerReferences: [
                {
                  apiVersion: "apps/v1",
                  kind: "ReplicaSet",
                  name: `${name}-rs`,
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
    const pod = await core.readNamespacedPod({ name, namespace });
    expect(pod.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
  }, 20_000);
  await kubelet.crashNow(namespace, name, "app", { exitCode: 1, reason: "Error" });
  const pod = await core.readNamespacedPod({ name, namespace });
  return makePodEvent({
    cluster: scene.cluster,
    namespace,
    pod: name,
    podUID: pod.metadata!.uid!,
    node: pod.spec!.nodeName!,
    container: "app",
    ...lastTerminationOf(pod, "app"),
    workload: { kind: "Pod", name },
  });
}

/**
 * The workflows' services as `podmortem serve` builds them, against the S3 harness (or a bucket
 * of another name, e.g. one that does not exist) and the cluster the kubeconfig names.
 */
export function captureServices(
  kubeConfig: KubeConfig,
  s3: S3Harness,
  options: { bucket?: string; identity?: string; metrics?: WorkflowMetrics } = {},
) {
  const bucket = options.bucket ?? s3.bucket;
  const client = createS3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
  });
  const services = createServices({
    kube: createKubeAccess(kubeConfig),
    store: createS3Store({ client, bucket }),
    metrics: options.metrics ?? createWorkflowMetrics(),
    evidencePrefix: undefined,
    identity: options.identity ?? "capture-test",
    version: "test",
    settings: {
      retriever: { image: "podmortem:dev", namespace: "podmortem", s3Secret: "retriever-s3" },
      evidence: {
        kind: "s3",
        bucket,
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

/** The external-snapshotter's CRD (schema-less, as the tests only need its objects stored). */
export async function installSnapshotCrd(kc: KubeConfig, namespace: string): Promise<void> {
  await kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({
    body: {
      metadata: {
        name: "volumesnapshots.snapshot.storage.k8s.io",
        annotations: {
          "api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter",
        },
      },
      spec: {
        group: SNAPSHOT_API.group,
        scope: "Namespaced",
        names: {
          plural: SNAPSHOT_API.plural,
          singular: "volumesnapshot",
          kind: "VolumeSnapshot",
          listKind: "VolumeSnapshotList",
        },
        versions: [
          {
            name: SNAPSHOT_API.version,
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
      .listNamespacedCustomObject({ ...SNAPSHOT_API, namespace });
  }, 20_000);
}

/** Plays the snapshot controller for one snapshot: writes its status as the controller would. */
export async function patchSnapshotStatus(
  kc: KubeConfig,
  namespace: string,
  name: string,
  status: { readyToUse: boolean; error?: { message: string; time?: string } | null },
): Promise<void> {
  await kc
    .makeApiClient(CustomObjectsApi)
    .patchNamespacedCustomObject(
      { ...SNAPSHOT_API, namespace, name, body: { status } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
}

/** Capture.run and expire are private: tests drive them through CaptureDriver, as Incident would. */
export function captureClient(ingressUrl: string, captureId: string) {
  return captureWorkflowOf(ingressUrl, captureId);
}

/** Submits a capture of the event and waits for its result. */
export async function runCapture(
  ingressUrl: string,
  event: PodEvent,
  captureId: string,
): Promise<CaptureStatus> {
  const workflow = captureClient(ingressUrl, captureId);
  await workflow.workflowSubmit({ event, incidentKey: `${event.cluster}:${event.signature}` });
  return workflow.workflowAttach();
}

/** Every snapshot becomes ready to use, as a healthy CSI driver makes it. */
export async function markReady(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  await patchSnapshotStatus(kc, namespace, name, { readyToUse: true });
}

/** The names of the namespace's VolumeSnapshots. */
export async function snapshotNames(kc: KubeConfig, namespace: string): Promise<string[]> {
  const list = (await kc
    .makeApiClient(CustomObjectsApi)
    .listNamespacedCustomObject({ ...SNAPSHOT_API, namespace })) as {
    items: Array<{ metadata: { name: string } }>;
  };
  return list.items.map((item) => item.metadata.name);
}

/**
 * Plays the snapshot controller: on each pass over the namespace's VolumeSnapshots the script
 * writes a status (by default: ready to use). The returned stop waits out a pass in flight, so
 * no status lands after it.
 */
export function startSnapshotController(
  kc: KubeConfig,
  namespace: string,
  script: (name: string) => Promise<void> = (name) => markReady(kc, namespace, name),
): () => Promise<void> {
  let pass: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (pass) return;
    pass = snapshotNames(kc, namespace)
      .then(async (names) => {
        for (const name of names) await script(name);
      })
      .catch(() => undefined)
      .finally(() => (pass = undefined));
  }, 150);
  return async () => {
    clearInterval(timer);
    await pass;
  };
}
