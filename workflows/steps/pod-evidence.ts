import type { V1Pod } from "@kubernetes/client-node";

import type { CustodyArtifact } from "../../src/evidence/custody.ts";
import { EVIDENCE_FILES } from "../../src/evidence/evidence-layout.ts";
import type { EvidenceStore } from "../../src/evidence/evidence-store.ts";
import type { KubeAccess } from "../../src/k8s/kube-access.ts";
import { kubeStatusOf } from "../../src/k8s/kube-errors.ts";
import type { RemoteConfig } from "../../src/model/remote-config.ts";

type Logs = RemoteConfig["capture"]["logs"];

async function put(
  store: EvidenceStore,
  name: string,
  key: string,
  body: string | NodeJS.ReadableStream,
  contentType: string,
  maxBytes?: number,
): Promise<CustodyArtifact> {
  const stored = await store.put(key, body as never, {
    contentType,
    ...(maxBytes ? { maxBytes } : {}),
  });
  return {
    name,
    key: stored.key,
    uri: stored.uri,
    size: stored.size,
    sha256: stored.sha256,
    truncated: stored.truncated,
    capturedAt: new Date().toISOString(),
  };
}

/** Current and previous logs of every container of the pod, each under `containers/`. */
export async function captureContainerLogs(
  deps: { kube: KubeAccess; store: EvidenceStore },
  input: { pod: V1Pod; folder: string; logs: Logs },
): Promise<CustodyArtifact[]> {
  const namespace = input.pod.metadata?.namespace ?? "";
  const name = input.pod.metadata?.name ?? "";
  const statuses = [
    ...(input.pod.status?.initContainerStatuses ?? []),
    ...(input.pod.status?.containerStatuses ?? []),
    ...(input.pod.status?.ephemeralContainerStatuses ?? []),
  ];
  const artifacts: CustodyArtifact[] = [];
  for (const status of statuses) {
    for (const previous of status.restartCount > 0 ? [false, true] : [false]) {
      const file = EVIDENCE_FILES.containerLog(status.name, previous);
      try {
        const stream = await deps.kube.openLog({
          namespace,
          pod: name,
          container: status.name,
          previous,
          tailLines: input.logs.tailLines,
          limitBytes: input.logs.limitBytes,
        });
        artifacts.push(
          await put(
            deps.store,
            file,
            `${input.folder}${file}`,
            stream,
            "text/plain; charset=utf-8",
            input.logs.limitBytes,
          ),
        );
      } catch (error) {
        // A container that never started has no log: not a failure of the capture.
        if (kubeStatusOf(error) === 400) continue;
        throw error;
      }
    }
  }
  return artifacts;
}

export async function captureJson(
  store: EvidenceStore,
  name: string,
  key: string,
  value: unknown,
): Promise<CustodyArtifact> {
  return put(store, name, key, `${JSON.stringify(value, null, 2)}\n`, "application/json");
}

/** The pod's events, oldest first; they expire an hour after their last occurrence. */
export async function listPodEvents(kube: KubeAccess, pod: V1Pod): Promise<unknown[]> {
  const answer = await kube.core.listNamespacedEvent({
    namespace: pod.metadata?.namespace ?? "",
    fieldSelector: `involvedObject.name=${pod.metadata?.name ?? ""}`,
    limit: 500,
  });
  return answer.items
    .filter(
      (event) =>
        !pod.metadata?.uid ||
        event.involvedObject.uid === undefined ||
        event.involvedObject.uid === pod.metadata.uid,
    )
    .map((event) => ({
      type: event.type,
      reason: event.reason,
      message: event.message,
      count: event.count,
      firstTimestamp: event.firstTimestamp,
      lastTimestamp: event.lastTimestamp,
      source: event.source,
      involvedObject: {
        kind: event.involvedObject.kind,
        name: event.involvedObject.name,
        fieldPath: event.involvedObject.fieldPath,
      },
    }));
}

/** What a node said about itself: conditions, capacity, versions; no secrets live there. */
export async function readNodeFacts(kube: KubeAccess, nodeName: string): Promise<unknown> {
  const node = await kube.core.readNode({ name: nodeName });
  return {
    name: node.metadata?.name,
    labels: node.metadata?.labels,
    conditions: node.status?.conditions,
    capacity: node.status?.capacity,
    allocatable: node.status?.allocatable,
    nodeInfo: node.status?.nodeInfo,
  };
}
