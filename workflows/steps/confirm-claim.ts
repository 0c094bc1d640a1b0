import type { V1ContainerStateTerminated, V1ContainerStatus, V1Pod } from "@kubernetes/client-node";

import { isPodmortemObject } from "../../src/k8s/podmortem-labels.ts";
import {
  CAPTURE_REQUEST_ANNOTATION,
  captureRequestSchema,
  ON_DEMAND_REASON,
  REQUEST_MAX_AGE_S,
  REQUEST_MAX_SKEW_S,
  type CaptureClaim,
  type CaptureRequestAnnotation,
} from "../../src/model/capture-request.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import { computeOccurrenceId, computeSignature } from "../../src/model/signature.ts";
import { describeProblems, validate } from "../../src/model/validation.ts";

/**
 * What the API server says about an event's claim:
 * - confirmed: the pod with that UID shows the claimed termination or waiting reason;
 * - gone: no pod of that name any more, nothing to check (evidence only, nothing created);
 * - own: a pod podmortem made (labels contract): refused;
 * - contradicted: the pod is another one, or its status does not show the claim: nothing done.
 */
export type ClaimVerdict = {
  kind: "confirmed" | "gone" | "own" | "contradicted";
  detail: string;
};

/** Image pulls alternate between these two while the kubelet backs off. */
const PULL_FAILURES = new Set(["ErrImagePull", "ImagePullBackOff"]);

function statusesOf(pod: V1Pod, type: PodEvent["containerType"]): V1ContainerStatus[] {
  const status = pod.status;
  if (type === "init") return status?.initContainerStatuses ?? [];
  if (type === "ephemeral") return status?.ephemeralContainerStatuses ?? [];
  return status?.containerStatuses ?? [];
}

function terminationReason(t: V1ContainerStateTerminated): string {
  return t.reason ?? (t.exitCode === 0 ? "Completed" : "Error");
}

/**
 * The status shows a termination of the claimed kind (exit code, or reason when there is none).
 * Its exact time is not compared: the status keeps only the latest two instances, and a forged
 * time buys nothing but another occurrence id, which the capture slot of the pod absorbs.
 */
function confirmTermination(status: V1ContainerStatus, event: PodEvent): string | undefined {
  for (const terminated of [status.state?.terminated, status.lastState?.terminated]) {
    if (!terminated) continue;
    const same =
      event.exitCode !== null
        ? terminated.exitCode === event.exitCode
        : terminationReason(terminated) === event.reason;
    if (same)
      return `container ${status.name} terminated (${terminationReason(terminated)}, exit ${terminated.exitCode}), ${status.restartCount ?? 0} restarts`;
  }
  return undefined;
}

/** `readFailure`: why the pod could not be read, when it could not (gone, forbidden). */
export function confirmClaim(
  pod: V1Pod | undefined,
  event: PodEvent,
  readFailure?: string,
): ClaimVerdict {
  const where = `${event.namespace}/${event.pod}`;
  if (!pod)
    return {
      kind: "gone",
      detail: `${readFailure ?? `pod ${where} no longer exists`}: nothing to confirm`,
    };
  if (isPodmortemObject(pod.metadata?.labels))
    return {
      kind: "own",
      detail: `pod ${where} is podmortem's own (${pod.metadata?.labels?.["forensic.io/role"] ?? "managed-by podmortem"}): never captured`,
    };
  if (pod.metadata?.uid !== event.podUID)
    return {
      kind: "contradicted",
      detail: `pod ${where} has UID ${pod.metadata?.uid ?? "none"}, the event claims ${event.podUID}`,
    };
  if (event.reason === "Evicted") {
    const evicted = pod.status?.phase === "Failed" && pod.status.reason === "Evicted";
    return evicted
      ? { kind: "confirmed", detail: `pod ${where} was evicted` }
      : { kind: "contradicted", detail: `pod ${where} is not evicted` };
  }
  const status = statusesOf(pod, event.containerType).find((s) => s.name === event.container);
  if (!status)
    return {
      kind: "contradicted",
      detail: `pod ${where} has no ${event.containerType} container ${event.container}`,
    };
  if ((status.restartCount ?? 0) < event.restartCount)
    return {
      kind: "contradicted",
      detail: `container ${event.container} shows ${status.restartCount ?? 0} restarts, the event claims ${event.restartCount}`,
    };
  if (event.exitCode === null && event.finishedAt === null) {
    const waiting = status.state?.waiting?.reason;
    const same =
      waiting === event.reason ||
      (waiting !== undefined && PULL_FAILURES.has(waiting) && PULL_FAILURES.has(event.reason));
    return same
      ? { kind: "confirmed", detail: `container ${event.container} is waiting: ${waiting}` }
      : {
          kind: "contradicted",
          detail: `container ${event.container} is not waiting with ${event.reason} (${waiting ?? "not waiting"})`,
        };
  }
  const confirmed = confirmTermination(status, event);
  return confirmed
    ? { kind: "confirmed", detail: confirmed }
    : {
        kind: "contradicted",
        detail: `container ${event.container} shows no termination ${event.exitCode === null ? event.reason : `with exit ${event.exitCode}`} at restart ${event.restartCount} or later`,
      };
}

/**
 * What the API server says about an on-demand request's pointer. The pointer (from Restate's
 * ingress) is believed in nothing: the pod must be the one it names (UID), carry the request
 * annotation with the same id — written through the API server, so by someone allowed to patch
 * the pod — recently, for a container the pod has. Everything the capture does comes from the
 * annotation, never from the pointer.
 */
export type RequestVerdict =
  | { kind: "confirmed"; detail: string; request: CaptureRequestAnnotation }
  | { kind: "refused"; detail: string; request?: CaptureRequestAnnotation };

export function confirmRequest(
  pod: V1Pod | undefined,
  claim: CaptureClaim,
  nowMs: number,
  readFailure?: string,
): RequestVerdict {
  const where = `${claim.namespace}/${claim.pod}`;
  if (!pod) return { kind: "refused", detail: readFailure ?? `pod ${where} does not exist` };
  if (isPodmortemObject(pod.metadata?.labels))
    return {
      kind: "refused",
      detail: `pod ${where} is podmortem's own (${pod.metadata?.labels?.["forensic.io/role"] ?? "managed-by podmortem"}): never captured`,
    };
  if (pod.metadata?.uid !== claim.podUID)
    return {
      kind: "refused",
      detail: `pod ${where} has UID ${pod.metadata?.uid ?? "none"}, the request names ${claim.podUID}`,
    };
  const raw = pod.metadata?.annotations?.[CAPTURE_REQUEST_ANNOTATION];
  if (raw === undefined)
    return {
      kind: "refused",
      detail: `pod ${where} has no ${CAPTURE_REQUEST_ANNOTATION} annotation: nobody asked for this capture on the pod`,
    };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { kind: "refused", detail: `${CAPTURE_REQUEST_ANNOTATION} on ${where} is not JSON` };
  }
  const result = validate(captureRequestSchema, parsed);
  if (!result.ok)
    return {
      kind: "refused",
      detail: `${CAPTURE_REQUEST_ANNOTATION} on ${where} is invalid: ${describeProblems(result.problems)}`,
    };
  const request = result.value;
  if (request.id !== claim.requestId)
    return {
      kind: "refused",
      detail: `${CAPTURE_REQUEST_ANNOTATION} on ${where} is request ${request.id}, not ${claim.requestId}`,
    };
  const ageS = (nowMs - Date.parse(request.requestedAt)) / 1000;
  if (ageS > REQUEST_MAX_AGE_S || ageS < -REQUEST_MAX_SKEW_S)
    return {
      kind: "refused",
      request,
      detail: `request ${request.id} was made at ${request.requestedAt}: only requests of the last ${REQUEST_MAX_AGE_S / 60} minutes are honoured`,
    };
  if (!containerOf(pod, request.container))
    return {
      kind: "refused",
      request,
      detail: `pod ${where} has no container ${request.container}`,
    };
  return {
    kind: "confirmed",
    request,
    detail: `request ${request.id} by ${request.requestedBy} (identity from ${request.identitySource}) is on pod ${where} (UID ${claim.podUID})`,
  };
}

function containerOf(
  pod: V1Pod,
  name: string,
): { type: PodEvent["containerType"]; status: V1ContainerStatus | undefined } | undefined {
  const types: Array<[PodEvent["containerType"], Array<{ name: string }> | undefined]> = [
    ["regular", pod.spec?.containers],
    ["init", pod.spec?.initContainers],
    ["ephemeral", pod.spec?.ephemeralContainers],
  ];
  for (const [type, containers] of types)
    if (containers?.some((c) => c.name === name))
      return { type, status: statusesOf(pod, type).find((s) => s.name === name) };
  return undefined;
}

/** The pod's controller, one level up: an on-demand capture starts no Incident to group. */
function workloadOf(pod: V1Pod): PodEvent["workload"] {
  const owner = pod.metadata?.ownerReferences?.find((ref) => ref.controller);
  return owner
    ? { kind: owner.kind, name: owner.name }
    : { kind: "Pod", name: pod.metadata?.name ?? "" };
}

/**
 * The PodEvent the rest of the capture reads, built from the pod the API server returned and
 * the confirmed request (nothing from the pointer but what the pod matched): reason OnDemand,
 * no exit code, the container's current restart count. Without a pod (a refused request) it is
 * a stand-in naming what was asked about, so status and audit can say it.
 */
export function onDemandEvent(
  pod: V1Pod | undefined,
  claim: CaptureClaim,
  request: CaptureRequestAnnotation | undefined,
  observedAt: string,
): PodEvent {
  const container = request?.container ?? "unknown";
  const found = pod ? containerOf(pod, container) : undefined;
  const status = found?.status;
  const started = status?.state?.running?.startedAt;
  const base = {
    cluster: claim.cluster,
    namespace: claim.namespace,
    pod: claim.pod,
    podUID: claim.podUID,
    node: pod?.spec?.nodeName ?? null,
    workload: pod ? workloadOf(pod) : { kind: "Pod", name: claim.pod },
    container,
    containerType: found?.type ?? "regular",
    image: status?.image ?? "",
    imageID: status?.imageID ?? "",
    reason: ON_DEMAND_REASON,
    exitCode: null,
    signal: null,
    message: pod && request ? `on-demand capture requested by ${request.requestedBy}` : "",
    restartCount: status?.restartCount ?? 0,
    startedAt: started ? new Date(started).toISOString() : null,
    finishedAt: null,
    observedAt,
    projectId: null,
    workloadId: null,
    suppressed: 0,
  };
  return {
    ...base,
    // The request is the occurrence: one capture per request (a confirmed request's id is the
    // pointer's).
    id: computeOccurrenceId({ ...base, finishedAt: claim.requestId }),
    signature: computeSignature(base),
  };
}
