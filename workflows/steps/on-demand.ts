import type { V1Pod } from "@kubernetes/client-node";
import * as restate from "@restatedev/restate-sdk";

import type {
  CaptureClaim,
  CaptureRequestAnnotation,
  CaptureTrigger,
} from "../../src/model/capture-request.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import type { RemoteConfig } from "../../src/model/remote-config.ts";
import type { ClusterObject } from "../cluster.object.ts";
import type { CaptureDeps } from "./capture-run.ts";
import { confirmRequest, onDemandEvent, type RequestVerdict } from "./confirm-claim.ts";
import { runStep, type StepRecord } from "./step-runner.ts";
import { readPodOrFail } from "./read-pod.ts";

/** An on-demand request as the capture sees it once the API server was asked. */
export type OpenedRequest = {
  event: PodEvent;
  pod: V1Pod | undefined;
  verdict: RequestVerdict;
  /** The "read pod" step, when the pod was read (not for a refused namespace). */
  read: StepRecord | undefined;
  trigger: CaptureTrigger | undefined;
};

/**
 * Refusals first (cluster not enrolled, podmortem's own or an excluded namespace: the pod is not
 * even read), then the pod from the API server and the request on it (confirmRequest).
 */
export async function openRequest(
  ctx: restate.WorkflowContext,
  deps: CaptureDeps,
  claim: CaptureClaim,
  ownNamespace: string,
): Promise<OpenedRequest> {
  const nowMs = await ctx.date.now();
  const observedAt = new Date(nowMs).toISOString();
  const settings = await ctx
    .objectClient<ClusterObject>({ name: "Cluster" }, claim.cluster)
    .ingestSettings();
  const { mode, list, exclude } = settings.namespaces;
  const refusal = !settings.enrolled
    ? `cluster ${claim.cluster} is not enrolled`
    : claim.namespace === ownNamespace
      ? `namespace ${claim.namespace} is podmortem's own: never captured`
      : exclude.includes(claim.namespace) || (mode === "list" && !list.includes(claim.namespace))
        ? `namespace ${claim.namespace} is excluded by the config`
        : undefined;
  if (refusal)
    return {
      event: onDemandEvent(undefined, claim, undefined, observedAt),
      pod: undefined,
      verdict: { kind: "refused", detail: refusal },
      read: undefined,
      trigger: undefined,
    };

  let pod: V1Pod | undefined;
  let read: StepRecord;
  try {
    pod = await runStep(ctx, deps.metrics, "read pod", () =>
      readPodOrFail(deps.kube, claim.namespace, claim.pod, "does not exist"),
    );
    read = {
      name: "read pod",
      outcome: "ok",
      detail: `${claim.namespace}/${claim.pod} on ${pod.spec?.nodeName ?? "no node"}`,
    };
  } catch (error) {
    if (!(error instanceof restate.TerminalError)) throw error;
    read = { name: "read pod", outcome: "failed", detail: error.message };
  }
  const verdict = confirmRequest(pod, claim, nowMs, pod ? undefined : read.detail);
  const request = verdict.request;
  return {
    event:
      verdict.kind === "confirmed" && pod
        ? onDemandEvent(pod, claim, verdict.request, observedAt)
        : onDemandEvent(undefined, claim, request, observedAt),
    pod,
    verdict,
    read,
    trigger: request
      ? {
          kind: "on-demand",
          requestId: request.id,
          requestedBy: request.requestedBy,
          identitySource: request.identitySource,
          requestedAt: request.requestedAt,
        }
      : undefined,
  };
}

/**
 * The config's steps are the ceiling: a request turns steps on only where the config allows
 * them, never snapshots or a restart (the pod is alive). `why` says why a step will not run.
 */
export function onDemandSteps(
  capture: RemoteConfig["capture"],
  request: CaptureRequestAnnotation | undefined,
): { capture: RemoteConfig["capture"]; why: Partial<Record<StepName, string>> } {
  const why: Partial<Record<StepName, string>> = {
    snapshots: "an on-demand capture takes no volume snapshots",
    restartAfterSalvage: "an on-demand capture never restarts the pod",
  };
  if (!request?.checkpoint) why.checkpoint = "no checkpoint was requested (--checkpoint)";
  else if (!capture.steps.checkpoint)
    why.checkpoint = "a checkpoint was requested, but checkpoints are off in the config";
  if (!request?.copy) why.forensicPod = "no forensic copy was requested (--copy)";
  else if (!capture.steps.forensicPod)
    why.forensicPod = "a forensic copy was requested, but the forensic pod is off in the config";
  return {
    capture: {
      ...capture,
      steps: {
        ...capture.steps,
        snapshots: false,
        checkpoint: capture.steps.checkpoint && request?.checkpoint === true,
        forensicPod: capture.steps.forensicPod && request?.copy === true,
        restartAfterSalvage: false,
      },
    },
    why,
  };
}

type StepName = "snapshots" | "checkpoint" | "forensicPod" | "restartAfterSalvage";
