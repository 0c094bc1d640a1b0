import type { V1Pod } from "@kubernetes/client-node";
import type { Readable } from "node:stream";

import {
  CUSTODY_SCHEMA_VERSION,
  type Custody,
  type CustodyArtifact,
} from "../../src/evidence/custody.ts";
import { EVIDENCE_FILES } from "../../src/evidence/evidence-layout.ts";
import type { EvidenceStore } from "../../src/evidence/evidence-store.ts";
import { kubeStatusOf } from "../../src/k8s/kube-errors.ts";
import type { KubeAccess } from "../../src/k8s/kube-access.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import type { RemoteConfig } from "../../src/model/remote-config.ts";
import type { CaptureRun } from "./capture-run.ts";
import { captureContainerLogs, captureJson, listPodEvents, readNodeFacts } from "./pod-evidence.ts";

export type EvidenceDeps = { kube: KubeAccess; store: EvidenceStore };

export type EvidenceTarget = {
  event: PodEvent;
  folder: string;
  logs: RemoteConfig["capture"]["logs"];
  nowIso: () => string;
};

async function storeArtifact(
  store: EvidenceStore,
  name: string,
  key: string,
  body: Readable | string,
  options: { contentType: string; maxBytes?: number },
  capturedAt: string,
): Promise<CustodyArtifact> {
  const stored = await store.put(key, body, options);
  return {
    name,
    key: stored.key,
    uri: stored.uri,
    size: stored.size,
    sha256: stored.sha256,
    truncated: stored.truncated,
    capturedAt,
  };
}

/**
 * The crashed container's previous log, or its current one when there is no previous instance
 * (a container that never ran twice). Undefined when the kubelet has neither: an image that never
 * pulled has no log at all.
 */
export async function captureCrashLog(
  deps: EvidenceDeps,
  target: EvidenceTarget,
): Promise<CustodyArtifact | undefined> {
  const { event } = target;
  for (const previous of [true, false]) {
    let stream: Readable;
    try {
      stream = await deps.kube.openLog({
        namespace: event.namespace,
        pod: event.pod,
        container: event.container,
        previous,
        tailLines: target.logs.tailLines,
        limitBytes: target.logs.limitBytes,
      });
    } catch (error) {
      // 400: "previous terminated container not found" or "waiting to start"; try the next source.
      if (kubeStatusOf(error) === 400) continue;
      throw error;
    }
    return storeArtifact(
      deps.store,
      EVIDENCE_FILES.crashLog,
      `${target.folder}${EVIDENCE_FILES.crashLog}`,
      stream,
      { contentType: "text/plain; charset=utf-8", maxBytes: target.logs.limitBytes },
      target.nowIso(),
    );
  }
  return undefined;
}

export type CustodyInput = {
  captureId: string;
  event: PodEvent;
  folder: string;
  capturedAt: string;
  capturedBy: Custody["capturedBy"];
  artifacts: CustodyArtifact[];
};

export async function sealCustody(
  store: EvidenceStore,
  input: CustodyInput,
  sealedAt: string,
): Promise<CustodyArtifact> {
  const { event } = input;
  const custody: Custody = {
    schema: CUSTODY_SCHEMA_VERSION,
    captureId: input.captureId,
    cluster: event.cluster,
    signature: event.signature,
    occurrenceId: event.id,
    source: {
      namespace: event.namespace,
      pod: event.pod,
      podUID: event.podUID,
      container: event.container,
      node: event.node,
    },
    capturedBy: input.capturedBy,
    capturedAt: input.capturedAt,
    sealedAt,
    artifacts: input.artifacts,
  };
  return storeArtifact(
    store,
    EVIDENCE_FILES.custody,
    `${input.folder}${EVIDENCE_FILES.custody}`,
    `${JSON.stringify(custody, null, 2)}\n`,
    { contentType: "application/json" },
    sealedAt,
  );
}

/**
 * Evidence salvage: every container's logs (the crashed one's previous log as crash.log), the
 * pod manifest, its events and its node's conditions, each in its own step. Artifacts go to
 * `run.artifacts`, for custody.json to seal.
 */
export async function salvageEvidence(run: CaptureRun, pod: V1Pod | undefined): Promise<void> {
  const { deps, event, folder } = run;
  const logs = run.capture.logs;
  const stored = await run.step(
    "capture logs",
    async () => {
      const crash = await captureCrashLog(deps, {
        event,
        folder,
        logs,
        nowIso: () => new Date().toISOString(),
      });
      const others = pod ? await captureContainerLogs(deps, { pod, folder, logs }) : [];
      const all = [...(crash ? [crash] : []), ...others];
      deps.metrics.bytesStored.inc(
        { kind: "log" },
        all.reduce((sum, a) => sum + a.size, 0),
      );
      return all;
    },
    (all) =>
      `${all.length} logs, ${all.reduce((sum, a) => sum + a.size, 0)} bytes` +
      (all.some((a) => a.name === EVIDENCE_FILES.crashLog) ? "" : "; the kubelet had no crash log"),
  );
  run.artifacts.push(...(stored ?? []));
  if (!run.needPod("capture pod manifest", pod)) return;

  const manifest = await run.step(
    "capture pod manifest",
    () => captureJson(deps.store, EVIDENCE_FILES.pod, `${folder}${EVIDENCE_FILES.pod}`, pod),
    (a) => `${a.size} bytes`,
  );
  if (manifest) run.artifacts.push(manifest);
  const events = await run.step(
    "capture events",
    async () =>
      captureJson(
        deps.store,
        EVIDENCE_FILES.events,
        `${folder}${EVIDENCE_FILES.events}`,
        await listPodEvents(deps.kube, pod),
      ),
    (a) => `${a.size} bytes`,
  );
  if (events) run.artifacts.push(events);
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) {
    run.skip("capture node conditions", "the pod was never scheduled");
    return;
  }
  const node = await run.step(
    "capture node conditions",
    async () =>
      captureJson(
        deps.store,
        EVIDENCE_FILES.node,
        `${folder}${EVIDENCE_FILES.node}`,
        await readNodeFacts(deps.kube, nodeName),
      ),
    (a) => `${a.size} bytes`,
  );
  if (node) run.artifacts.push(node);
}
