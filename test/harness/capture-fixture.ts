import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from "@kubernetes/client-node";

import { createS3Client, createS3Store } from "../../src/evidence/s3-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import type { CaptureStatus } from "../../workflows/capture.workflow.ts";
import { createWorkflowMetrics, type WorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { CaptureDriver, captureWorkflowOf } from "./capture-driver.ts";
import { eventually } from "./eventually.ts";
import type { S3Harness } from "./s3-server.ts";

export const SNAPSHOT_API = {
  group: "snapshot.storage.k8s.io",
  version: "v1",
  plural: "volumesnapshots",
} as const;

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
  const custom = kc.makeApiClient(CustomObjectsApi);
  let pass: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (pass) return;
    pass = custom
      .listNamespacedCustomObject({ ...SNAPSHOT_API, namespace })
      .then(async (list) => {
        for (const item of (list as { items: Array<{ metadata: { name: string } }> }).items)
          await script(item.metadata.name);
      })
      .catch(() => undefined)
      .finally(() => (pass = undefined));
  }, 150);
  return async () => {
    clearInterval(timer);
    await pass;
  };
}
