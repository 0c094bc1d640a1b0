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
  /**
   * Asked before an event is built, with the occurrence id's pre-image (so equal keys are equal
   * ids): false skips it. Most status updates re-show an occurrence already seen; they cost no
   * hashing this way.
   */
  isNewOccurrence?: (key: string) => boolean;
};

// The same few signatures recur in every update of a failing workload: remember their hashes.
const SIGNATURES_MEMO_MAX = 20_000;
const signatures = new Map<string, string>();

function signatureOf(input: Parameters<typeof computeSignature>[0]): string {
  const key = `${input.cluster}\0${input.namespace}\0${input.workload.kind}/${input.workload.name}\0${input.container}\0${input.exitCode ?? input.reason}`;
  let signature = signatures.get(key);
  if (signature === undefined) {
    if (signatures.size >= SIGNATURES_MEMO_MAX) signatures.clear();
    signature = computeSignature(input);
    signatures.set(key, signature);
  }
  return signature;
}

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
    const event = buildEvent(pod, containerType, status, context, {
      reason: waiting.reason,
      exitCode: null,
      signal: null,
      message: waiting.message ?? "",
      restartCount: status.restartCount ?? 0,
      startedAt: null,
      finishedAt: null,
    });
    if (event) detections.push({ reasons: [waiting.reason], event });
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
    const event = buildEvent(pod, containerType, status, context, {
      reason,
      exitCode,
      signal: signalOf(exitCode, terminated.signal),
      message: terminated.message ?? waiting?.message ?? "",
      restartCount: instanceRestarts,
      startedAt: toIso(terminated.startedAt),
      finishedAt,
    });
    if (!event) return undefined;
    const reasons = [reason];
    if (waiting?.reason) reasons.push(waiting.reason);
    return { reasons, event };
  }
  return undefined;
}

/**
 * The restart count of the instance whose termination the status shows, if it shows one: a
 * current terminated state is the instance now (restartCount), a last state the one before.
 */
export function terminatedInstance(status: V1ContainerStatus): number | undefined {
  const restartCount = status.restartCount ?? 0;
  if (status.state?.terminated) return restartCount;
  if (status.lastState?.terminated) return Math.max(0, restartCount - 1);
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
): Detection["event"] | undefined {
  const namespace = pod.metadata?.namespace ?? "default";
  const podUID = pod.metadata?.uid ?? "";
  if (
    context.isNewOccurrence &&
    !context.isNewOccurrence(
      `${podUID}\0${status.name}\0${termination.restartCount}\0${termination.finishedAt ?? termination.reason}`,
    )
  )
    return undefined;
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
    signature: signatureOf(base),
  };
}

const isEvicted = (pod: V1Pod) => pod.status?.phase === "Failed" && pod.status.reason === "Evicted";

function detectEviction(pod: V1Pod, context: DetectContext): Detection | undefined {
  const container = pod.spec?.containers[0]?.name ?? "pod";
  const status: V1ContainerStatus = pod.status?.containerStatuses?.find(
    (s) => s.name === container,
  ) ?? {
    name: container,
    image: pod.spec?.containers[0]?.image ?? "",
    imageID: "",
    ready: false,
    restartCount: 0,
  };
  const event = buildEvent(pod, "regular", status, context, {
    reason: "Evicted",
    exitCode: null,
    signal: null,
    message: pod.status?.message ?? "",
    restartCount: status.restartCount ?? 0,
    startedAt: null,
    finishedAt: null,
  });
  return event && { reasons: ["Evicted"], event };
}

/** Every failure visible in a pod's status now, one per occurrence. */
export function detectFailures(pod: V1Pod, context: DetectContext): Detection[] {
  if (isEvicted(pod)) {
    // An evicted pod is one failure; its containers' states are the eviction's doing.
    const eviction = detectEviction(pod, context);
    return eviction ? [eviction] : [];
  }
  const detections: Detection[] = [];
  for (const [containerType, status] of statusEntries(pod)) {
    detections.push(...detectContainer(pod, containerType, status, context));
  }
  return detections;
}
