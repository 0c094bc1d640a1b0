import type { V1Pod } from "@kubernetes/client-node";
import * as restate from "@restatedev/restate-sdk";

import {
  CUSTODY_SCHEMA_VERSION,
  type Custody,
  type CustodyArtifact,
} from "../../src/evidence/custody.ts";
import { EVIDENCE_FILES } from "../../src/evidence/evidence-layout.ts";
import type { EvidenceStore } from "../../src/evidence/evidence-store.ts";
import { sha256Hex } from "../../src/evidence/hashing.ts";
import { kubeStatusOf } from "../../src/k8s/kube-errors.ts";
import type { CaptureTrigger } from "../../src/model/capture-request.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import { classifyStepError, type CaptureRun } from "./capture-run.ts";
import {
  captureContainerLog,
  captureJson,
  containerLogSources,
  listPodEvents,
  readNodeFacts,
  storeLogTail,
  type EvidenceDeps,
  type Logs,
  type Missing,
} from "./pod-evidence.ts";
import { failureMessage, runStep, StepFailure } from "./step-runner.ts";

export type EvidenceTarget = { event: PodEvent; folder: string; logs: Logs };

/**
 * The crashed container's previous log, or its current one when there is no previous instance
 * (a container that never ran twice). Missing when the kubelet has neither: an image that never
 * pulled has no log at all.
 */
export async function captureCrashLog(
  deps: EvidenceDeps,
  target: EvidenceTarget,
): Promise<CustodyArtifact | Missing> {
  const { event } = target;
  for (const previous of [true, false]) {
    try {
      return await storeLogTail(
        deps,
        { namespace: event.namespace, pod: event.pod, container: event.container, previous },
        target.logs,
        EVIDENCE_FILES.crashLog,
        `${target.folder}${EVIDENCE_FILES.crashLog}`,
      );
    } catch (error) {
      // 400: "previous terminated container not found" or "waiting to start"; try the next source.
      if (kubeStatusOf(error) === 400) continue;
      throw error;
    }
  }
  return { missing: "the kubelet had no crash log" };
}

export type CustodyInput = {
  captureId: string;
  event: PodEvent;
  folder: string;
  capturedAt: string;
  capturedBy: Custody["capturedBy"];
  trigger?: CaptureTrigger | undefined;
  artifacts: CustodyArtifact[];
};

/**
 * Writes custody.json where no custody is yet (a conditional create). A replay of this capture
 * finds its own and answers with it; another capture's custody in the folder is refused: one
 * folder, one capture, one chain of custody.
 */
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
    ...(input.trigger ? { trigger: input.trigger } : {}),
    capturedAt: input.capturedAt,
    sealedAt,
    artifacts: input.artifacts,
  };
  const key = `${input.folder}${EVIDENCE_FILES.custody}`;
  const outcome = await store.create(key, `${JSON.stringify(custody, null, 2)}\n`, {
    contentType: "application/json",
  });
  if ("created" in outcome) {
    const { created } = outcome;
    return { name: EVIDENCE_FILES.custody, ...created, capturedAt: sealedAt };
  }
  const owner = custodyOwner(outcome.existing);
  if (owner !== input.captureId)
    throw new StepFailure(
      `${store.uri(key)} already holds the custody of ${owner ? `capture ${owner}` : "something else"}: refused to write over it`,
    );
  return {
    name: EVIDENCE_FILES.custody,
    key,
    uri: store.uri(key),
    size: outcome.existing.length,
    sha256: sha256Hex(outcome.existing),
    truncated: false,
    capturedAt: sealedAt,
  };
}

function custodyOwner(bytes: Buffer): string | undefined {
  try {
    const captureId = (JSON.parse(bytes.toString("utf8")) as { captureId?: unknown }).captureId;
    return typeof captureId === "string" ? captureId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One durable step per artifact: the artifact joins `run.artifacts` (for custody.json to seal)
 * as soon as its own step is done, so a sibling's failure never costs it, and a retry repeats
 * only the artifact that failed. A missing source is recorded as a skip.
 */
async function artifactStep(
  run: CaptureRun,
  name: string,
  action: () => Promise<CustodyArtifact | Missing>,
  kind: "log" | "document",
): Promise<CustodyArtifact | undefined> {
  const { ctx, deps } = run;
  let value: CustodyArtifact | Missing;
  try {
    value = await runStep(
      ctx,
      deps.metrics,
      name,
      async () => {
        const result = await action();
        if (!("missing" in result)) deps.metrics.bytesStored.inc({ kind }, result.size);
        return result;
      },
      { classify: classifyStepError },
    );
  } catch (error) {
    if (!(error instanceof restate.TerminalError)) throw error;
    run.record({ name, outcome: "failed", detail: failureMessage(error) });
    return undefined;
  }
  if ("missing" in value) {
    run.skip(name, value.missing);
    return undefined;
  }
  run.artifacts.push(value);
  const dropped = value.droppedBytes
    ? `; kept the newest ${value.size} bytes, ${value.droppedBytes} older bytes dropped`
    : "";
  run.record({ name, outcome: "ok", detail: `${value.size} bytes${dropped}` });
  return value;
}

/**
 * Evidence salvage: the crash log first, then every container's logs, the pod manifest, its
 * events and its node's conditions, each artifact in its own step.
 */
export async function salvageEvidence(run: CaptureRun, pod: V1Pod | undefined): Promise<void> {
  const { deps, event, folder } = run;
  const logs = run.capture.logs;
  await artifactStep(
    run,
    "capture crash log",
    () => captureCrashLog(deps, { event, folder, logs }),
    "log",
  );
  if (pod) {
    for (const { container, previous } of containerLogSources(pod)) {
      await artifactStep(
        run,
        `capture ${previous ? "previous log" : "log"} ${container}`,
        () => captureContainerLog(deps, { pod, container, previous, folder, logs }),
        "log",
      );
    }
  }
  if (!run.needPod("capture pod manifest", pod)) return;

  await artifactStep(
    run,
    "capture pod manifest",
    () => captureJson(deps.store, EVIDENCE_FILES.pod, `${folder}${EVIDENCE_FILES.pod}`, pod),
    "document",
  );
  await artifactStep(
    run,
    "capture events",
    async () =>
      captureJson(
        deps.store,
        EVIDENCE_FILES.events,
        `${folder}${EVIDENCE_FILES.events}`,
        await listPodEvents(deps.kube, pod),
      ),
    "document",
  );
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) {
    run.skip("capture node conditions", "the pod was never scheduled");
    return;
  }
  await artifactStep(
    run,
    "capture node conditions",
    async () =>
      captureJson(
        deps.store,
        EVIDENCE_FILES.node,
        `${folder}${EVIDENCE_FILES.node}`,
        await readNodeFacts(deps.kube, nodeName),
      ),
    "document",
  );
}
