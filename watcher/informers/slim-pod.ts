import type { V1ContainerState, V1ContainerStatus, V1Pod } from "@kubernetes/client-node";

/** Annotations and labels the watcher reads; everything else of a pod is dropped on arrival. */
export const KEPT_LABELS = ["project-id", "workload-id", "pod-template-hash"] as const;
export const KEPT_ANNOTATIONS = ["forensic.io/capture"] as const;

type RawObject = Record<string, unknown>;

const isObject = (value: unknown): value is RawObject =>
  typeof value === "object" && value !== null;
const text = (value: unknown): string | undefined =>
  typeof value === "string" ? value : undefined;
const num = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined);

function pick(source: unknown, keys: readonly string[]): Record<string, string> | undefined {
  if (!isObject(source)) return undefined;
  let kept: Record<string, string> | undefined;
  for (const key of keys) {
    const value = text(source[key]);
    if (value !== undefined) (kept ??= {})[key] = value;
  }
  return kept;
}

function slimState(raw: unknown): V1ContainerState | undefined {
  if (!isObject(raw)) return undefined;
  const state: V1ContainerState = {};
  if (isObject(raw.waiting)) {
    state.waiting = { reason: text(raw.waiting.reason), message: text(raw.waiting.message) };
  }
  if (isObject(raw.running)) state.running = {};
  if (isObject(raw.terminated)) {
    const t = raw.terminated;
    state.terminated = {
      exitCode: num(t.exitCode) ?? 0,
      signal: num(t.signal),
      reason: text(t.reason),
      message: text(t.message),
      startedAt: text(t.startedAt) as unknown as Date,
      finishedAt: text(t.finishedAt) as unknown as Date,
    };
  }
  return state;
}

function slimStatuses(raw: unknown): V1ContainerStatus[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  return raw.filter(isObject).map((s) => ({
    name: text(s.name) ?? "",
    image: text(s.image) ?? "",
    imageID: text(s.imageID) ?? "",
    ready: s.ready === true,
    restartCount: num(s.restartCount) ?? 0,
    state: slimState(s.state),
    lastState: slimState(s.lastState),
  }));
}

/**
 * The few fields of a pod the watcher needs, copied out of the raw JSON so the rest (spec,
 * managedFields, most of metadata) is garbage at once: memory does not grow with pod size.
 */
export function toSlimPod(raw: unknown): V1Pod | undefined {
  if (!isObject(raw) || !isObject(raw.metadata)) return undefined;
  const metadata = raw.metadata;
  const spec = isObject(raw.spec) ? raw.spec : {};
  const status = isObject(raw.status) ? raw.status : {};
  const owners = Array.isArray(metadata.ownerReferences)
    ? metadata.ownerReferences.filter(isObject)
    : [];
  const controller = owners.find((owner) => owner.controller === true) ?? owners[0];
  const firstContainer =
    Array.isArray(spec.containers) && isObject(spec.containers[0]) ? spec.containers[0] : undefined;
  return {
    metadata: {
      name: text(metadata.name),
      namespace: text(metadata.namespace),
      uid: text(metadata.uid),
      resourceVersion: text(metadata.resourceVersion),
      labels: pick(metadata.labels, KEPT_LABELS),
      annotations: pick(metadata.annotations, KEPT_ANNOTATIONS),
      ownerReferences: controller
        ? [
            {
              apiVersion: text(controller.apiVersion) ?? "",
              kind: text(controller.kind) ?? "",
              name: text(controller.name) ?? "",
              uid: text(controller.uid) ?? "",
              controller: controller.controller === true,
            },
          ]
        : undefined,
      deletionTimestamp: text(metadata.deletionTimestamp) as unknown as Date,
    },
    spec: {
      nodeName: text(spec.nodeName),
      containers: firstContainer
        ? [{ name: text(firstContainer.name) ?? "", image: text(firstContainer.image) }]
        : [],
    },
    status: {
      phase: text(status.phase),
      reason: text(status.reason),
      message: text(status.message),
      containerStatuses: slimStatuses(status.containerStatuses),
      initContainerStatuses: slimStatuses(status.initContainerStatuses),
      ephemeralContainerStatuses: slimStatuses(status.ephemeralContainerStatuses),
    },
  };
}

/** Changes only when something detection looks at changes, so most updates are skipped early. */
export function statusFingerprint(raw: unknown): string {
  if (!isObject(raw) || !isObject(raw.status)) return "";
  const status = raw.status;
  let print = `${text(status.phase) ?? ""}|${text(status.reason) ?? ""}`;
  for (const group of [
    status.initContainerStatuses,
    status.containerStatuses,
    status.ephemeralContainerStatuses,
  ]) {
    if (!Array.isArray(group)) continue;
    for (const s of group) {
      if (!isObject(s)) continue;
      const state = isObject(s.state) ? s.state : {};
      const waiting = isObject(state.waiting) ? (text(state.waiting.reason) ?? "w") : "";
      const terminated = isObject(state.terminated)
        ? String(num(state.terminated.exitCode) ?? "t")
        : "";
      print += `|${text(s.name) ?? ""}:${num(s.restartCount) ?? 0}:${waiting}:${terminated}`;
    }
  }
  return print;
}
