import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";

import {
  truncateMessage,
  type ContainerType,
  type PodEvent,
  type WorkloadRef,
} from "../../src/model/pod-event.ts";
import { computeOccurrenceId, computeSignature } from "../../src/model/signature.ts";

/** Waiting reasons that are failures in their own right, with no termination behind them. */
const FAILING_WAITING_REASONS = new Set([
  "ImagePullBackOff",
  "ErrImagePull",
  "CreateContainerError",
  "CreateContainerConfigError",
  "RunContainerError",
  "InvalidImageName",
]);

/** Terminations that are failures even with exit code 0. */
const FAILING_TERMINATION_REASONS = new Set(["OOMKilled", "ContainerStatusUnknown", "Error"]);

export type Detection = {
  event: Omit<PodEvent, "projectId" | "workloadId" | "suppressed">;
  /** Every reason the occurrence answers to: the filter lets it through if one is detected. */
  reasons: string[];
};

export type DetectContext = {
  cluster: string;
  workload: WorkloadRef;
  observedAt: string;
};

function toIso(value: Date | string | undefined): string | null {
  if (value === undefined) return null;
  return typeof value === "string" ? value : value.toISOString();
}

function signalOf(exitCode: number | null, signal: number | undefined): number | null {
  if (signal !== undefined) return signal;
  return exitCode !== null && exitCode > 128 && exitCode < 160 ? exitCode - 128 : null;
}

function statusEntries(pod: V1Pod): Array<[ContainerType, V1ContainerStatus]> {
  const status = pod.status;
  return [
    ...(status?.initContainerStatuses ?? []).map(
      (s) => ["init", s] as [ContainerType, V1ContainerStatus],
    ),
    ...(status?.containerStatuses ?? []).map(
      (s) => ["regular", s] as [ContainerType, V1ContainerStatus],
    ),
    ...(status?.ephemeralContainerStatuses ?? []).map(
      (s) => ["ephemeral", s] as [ContainerType, V1ContainerStatus],
    ),
  ];
}

function detectContainer(
  pod: V1Pod,
  containerType: ContainerType,
  status: V1ContainerStatus,
  context: DetectContext,
): Detection[] {
  const detections: Detection[] = [];
  const termination = detectTermination(pod, containerType, status, context);
  if (termination) detections.push(termination);
  // A container that crashed before and now cannot start at all (a new image that does not
  // pull, a missing ConfigMap) is a second failure, not the first one again.
  const waiting = status.state?.waiting;
  if (!status.state?.terminated && waiting?.reason && FAILING_WAITING_REASONS.has(waiting.reason)) {
    detections.push({
      reasons: [waiting.reason],
      event: buildEvent(pod, containerType, status, context, {
        reason: waiting.reason,
        exitCode: null,
        signal: null,
        message: waiting.message ?? "",
        restartCount: status.restartCount ?? 0,
        startedAt: null,
        finishedAt: null,
      }),
    });
  }
  return detections;
}

function detectTermination(
  pod: V1Pod,
  containerType: ContainerType,
  status: V1ContainerStatus,
  context: DetectContext,
): Detection | undefined {
  // CrashLoopBackOff is this termination's consequence; a failing waiting reason is its own.
  const waiting =
    status.state?.waiting?.reason && FAILING_WAITING_REASONS.has(status.state.waiting.reason)
      ? undefined
      : status.state?.waiting;
  const current = status.state?.terminated;
  const last = status.lastState?.terminated;
  // A terminated current state is the newest termination (restartPolicy Never, or before the
  // kubelet restarts it); otherwise the last state holds the one that made it restart.
  const terminated = current ?? last;
  const restartCount = status.restartCount ?? 0;
  if (terminated) {
    const exitCode = terminated.exitCode ?? null;
    const reason = terminated.reason ?? (exitCode === 0 ? "Completed" : "Error");
    const failed = (exitCode !== null && exitCode !== 0) || FAILING_TERMINATION_REASONS.has(reason);
    if (!failed) return undefined;
    const finishedAt = toIso(terminated.finishedAt);
    // The restart count the terminated instance had: a last state belongs to the previous one.
    const instanceRestarts = current ? restartCount : Math.max(0, restartCount - 1);
    const reasons = [reason];
    if (waiting?.reason) reasons.push(waiting.reason);
    return {
      reasons,
      event: buildEvent(pod, containerType, status, context, {
        reason,
        exitCode,
        signal: signalOf(exitCode, terminated.signal),
        message: terminated.message ?? waiting?.message ?? "",
        restartCount: instanceRestarts,
        startedAt: toIso(terminated.startedAt),
        finishedAt,
      }),
    };
  }
  return undefined;
}

type Termination = Pick<
  PodEvent,
  "reason" | "exitCode" | "signal" | "message" | "restartCount" | "startedAt" | "finishedAt"
>;

function buildEvent(
  pod: V1Pod,
  containerType: ContainerType,
  status: V1ContainerStatus,
  context: DetectContext,
  termination: Termination,
): Detection["event"] {
  const namespace = pod.metadata?.namespace ?? "default";
  const podUID = pod.metadata?.uid ?? "";
  const base = {
    cluster: context.cluster,
    namespace,
    pod: pod.metadata?.name ?? "",
    podUID,
    node: pod.spec?.nodeName ?? null,
    workload: context.workload,
    container: status.name,
    containerType,
    image: status.image ?? "",
    imageID: status.imageID ?? "",
    observedAt: context.observedAt,
    ...termination,
    message: truncateMessage(termination.message),
  };
  return {
    ...base,
    id: computeOccurrenceId({
      podUID,
      container: status.name,
      restartCount: termination.restartCount,
      finishedAt: termination.finishedAt,
      reason: termination.reason,
    }),
    signature: computeSignature(base),
  };
}

function detectEviction(pod: V1Pod, context: DetectContext): Detection | undefined {
  if (pod.status?.phase !== "Failed" || pod.status.reason !== "Evicted") return undefined;
  const container = pod.spec?.containers[0]?.name ?? "pod";
  const status: V1ContainerStatus = pod.status.containerStatuses?.find(
    (s) => s.name === container,
  ) ?? {
    name: container,
    image: pod.spec?.containers[0]?.image ?? "",
    imageID: "",
    ready: false,
    restartCount: 0,
  };
  return {
    reasons: ["Evicted"],
    event: buildEvent(pod, "regular", status, context, {
      reason: "Evicted",
      exitCode: null,
      signal: null,
      message: pod.status.message ?? "",
      restartCount: status.restartCount ?? 0,
      startedAt: null,
      finishedAt: null,
    }),
  };
}

/** Every failure visible in a pod's status now, one per occurrence. */
export function detectFailures(pod: V1Pod, context: DetectContext): Detection[] {
  const eviction = detectEviction(pod, context);
  if (eviction) return [eviction];
  const detections: Detection[] = [];
  for (const [containerType, status] of statusEntries(pod)) {
    detections.push(...detectContainer(pod, containerType, status, context));
  }
  return detections;
}
