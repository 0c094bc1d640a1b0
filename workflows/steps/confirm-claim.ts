import type { V1ContainerStateTerminated, V1ContainerStatus, V1Pod } from "@kubernetes/client-node";

import { isPodmortemObject } from "../../src/k8s/podmortem-labels.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";

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
