import type { V1Pod } from "@kubernetes/client-node";
import { Readable } from "node:stream";

import type { CustodyArtifact } from "../../src/evidence/custody.ts";
import { EVIDENCE_FILES } from "../../src/evidence/evidence-layout.ts";
import type { EvidenceStore } from "../../src/evidence/evidence-store.ts";
import { readLogTail } from "../../src/evidence/log-tail.ts";
import type { KubeAccess } from "../../src/k8s/kube-access.ts";
import { kubeStatusOf } from "../../src/k8s/kube-errors.ts";
import type { RemoteConfig } from "../../src/model/remote-config.ts";

export type Logs = RemoteConfig["capture"]["logs"];
export type EvidenceDeps = { kube: KubeAccess; store: EvidenceStore };

/** An artifact the source could not give, and why: recorded as a skip, not a failure. */
export type Missing = { missing: string };

async function put(
  store: EvidenceStore,
  name: string,
  key: string,
  body: string | Readable,
  contentType: string,
): Promise<CustodyArtifact> {
  const stored = await store.put(key, body, { contentType });
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

export type LogSource = {
  namespace: string;
  pod: string;
  container: string;
  previous: boolean;
};

/**
 * One container log, its newest `limitBytes` kept. The kubelet is asked for the last `tailLines`
 * lines only: its own `limitBytes` counts from the start of that window and would cut the end,
 * where the crash is. Custody says how many older bytes were dropped.
 */
export async function storeLogTail(
  deps: EvidenceDeps,
  source: LogSource,
  logs: Logs,
  file: string,
  key: string,
): Promise<CustodyArtifact> {
  const stream = await deps.kube.openLog({ ...source, tailLines: logs.tailLines });
  const tail = await readLogTail(stream, logs.limitBytes);
  const artifact = await put(
    deps.store,
    file,
    key,
    Readable.from(tail.chunks),
    "text/plain; charset=utf-8",
  );
  return {
    ...artifact,
    truncated: tail.droppedBytes > 0,
    droppedBytes: tail.droppedBytes,
    kept: "tail",
  };
}

/**
 * A sibling container's log: 400 (never started, no previous instance) and 404 (the pod is
 * being deleted, normal for a crashing pod) are a missing log, not a failed capture.
 */
export async function captureContainerLog(
  deps: EvidenceDeps,
  input: { pod: V1Pod; container: string; previous: boolean; folder: string; logs: Logs },
): Promise<CustodyArtifact | Missing> {
  const file = EVIDENCE_FILES.containerLog(input.container, input.previous);
  try {
    return await storeLogTail(
      deps,
      {
        namespace: input.pod.metadata?.namespace ?? "",
        pod: input.pod.metadata?.name ?? "",
        container: input.container,
        previous: input.previous,
      },
      input.logs,
      file,
      `${input.folder}${file}`,
    );
  } catch (error) {
    const status = kubeStatusOf(error);
    if (status === 400) return { missing: "the kubelet has no such log (400)" };
    if (status === 404) return { missing: "the pod or container is gone (404)" };
    throw error;
  }
}

/** Every container's log, and the previous one of each that restarted, under `containers/`. */
export function containerLogSources(pod: V1Pod): Array<{ container: string; previous: boolean }> {
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.ephemeralContainerStatuses ?? []),
  ];
  return statuses.flatMap((status) =>
    (status.restartCount > 0 ? [false, true] : [false]).map((previous) => ({
      container: status.name,
      previous,
    })),
  );
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
