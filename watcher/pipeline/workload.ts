import type { V1Pod } from "@kubernetes/client-node";

import type { WorkloadRef } from "../../src/model/pod-event.ts";

/**
 * The top owner of a pod, from its controller reference alone. A ReplicaSet carrying the pod's
 * `pod-template-hash` is a Deployment's, so its name less the hash is the Deployment's name.
 */
export function inferWorkload(pod: V1Pod): WorkloadRef {
  const owner =
    pod.metadata?.ownerReferences?.find((ref) => ref.controller) ??
    pod.metadata?.ownerReferences?.[0];
  if (!owner) return { kind: "Pod", name: pod.metadata?.name ?? "" };
  const hash = pod.metadata?.labels?.["pod-template-hash"];
  if (owner.kind === "ReplicaSet" && hash && owner.name.endsWith(`-${hash}`)) {
    return { kind: "Deployment", name: owner.name.slice(0, -(hash.length + 1)) };
  }
  return { kind: owner.kind, name: owner.name };
}
