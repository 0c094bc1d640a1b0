import type {
  V1ControllerRevision,
  V1OwnerReference,
  V1Pod,
  V1PodTemplateSpec,
} from "@kubernetes/client-node";

import type { Revision } from "../changes/changes-document.ts";
import type { KubeAccess } from "./kube-access.ts";
import { isNotFound } from "./kube-errors.ts";

const REVISION_ANNOTATION = "deployment.kubernetes.io/revision";
/** Deployments keep 10 old ReplicaSets by default; a namespace's list is read once, bounded. */
const MAX_LISTED = 500;

export type OwnerRevisions = {
  owner: { kind: string; name: string };
  current: Revision | undefined;
  previous: Revision | undefined;
};

const controllerOf = (refs: V1OwnerReference[] | undefined) => refs?.find((r) => r.controller);
const iso = (value: Date | string | undefined) => (value ? new Date(value).toISOString() : null);

/** Deployment → its ReplicaSets, ordered by `deployment.kubernetes.io/revision`. */
async function deploymentRevisions(
  kube: KubeAccess,
  namespace: string,
  replicaSetName: string,
): Promise<OwnerRevisions | undefined> {
  let owned;
  try {
    owned = await kube.apps.readNamespacedReplicaSet({ name: replicaSetName, namespace });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  const deployment = controllerOf(owned.metadata?.ownerReferences);
  if (deployment?.kind !== "Deployment") return undefined;
  const list = await kube.apps.listNamespacedReplicaSet({ namespace, limit: MAX_LISTED });
  const revisions = list.items
    .filter((rs) => controllerOf(rs.metadata?.ownerReferences)?.uid === deployment.uid)
    .map((rs): Revision => ({
      name: rs.metadata?.name ?? "",
      revision: Number(rs.metadata?.annotations?.[REVISION_ANNOTATION] ?? 0),
      createdAt: iso(rs.metadata?.creationTimestamp),
      template: rs.spec?.template,
    }))
    .sort((a, b) => a.revision - b.revision);
  const current = revisions.find((r) => r.name === replicaSetName);
  const previous = current
    ? revisions.filter((r) => r.revision < current.revision).at(-1)
    : undefined;
  return { owner: { kind: "Deployment", name: deployment.name }, current, previous };
}

/** A StatefulSet's or DaemonSet's template as its ControllerRevision stores it. */
function templateOf(revision: V1ControllerRevision): V1PodTemplateSpec | undefined {
  const data = revision.data as { spec?: { template?: V1PodTemplateSpec } } | undefined;
  return data?.spec?.template;
}

/** StatefulSet / DaemonSet → ControllerRevisions, ordered by `.revision`. */
async function controllerRevisions(
  kube: KubeAccess,
  pod: V1Pod,
  owner: V1OwnerReference,
): Promise<OwnerRevisions> {
  const namespace = pod.metadata?.namespace ?? "";
  const list = await kube.apps.listNamespacedControllerRevision({ namespace, limit: MAX_LISTED });
  const revisions = list.items
    .filter((cr) => controllerOf(cr.metadata?.ownerReferences)?.uid === owner.uid)
    .map((cr): Revision => ({
      name: cr.metadata?.name ?? "",
      revision: cr.revision,
      createdAt: iso(cr.metadata?.creationTimestamp),
      template: templateOf(cr),
    }))
    .sort((a, b) => a.revision - b.revision);
  // StatefulSets label the pod with the revision's name, DaemonSets with its hash.
  const hash = pod.metadata?.labels?.["controller-revision-hash"];
  const current =
    revisions.find((r) => hash !== undefined && (r.name === hash || r.name.endsWith(`-${hash}`))) ??
    revisions.at(-1);
  const previous = current
    ? revisions.filter((r) => r.revision < current.revision).at(-1)
    : undefined;
  return { owner: { kind: owner.kind, name: owner.name }, current, previous };
}

/**
 * The revision the pod runs and the one before it, for Deployments, StatefulSets and DaemonSets.
 * Undefined for owners that keep no revisions (bare pods, Jobs, a ReplicaSet of its own).
 */
export async function readOwnerRevisions(
  kube: KubeAccess,
  pod: V1Pod,
): Promise<OwnerRevisions | undefined> {
  const owner = controllerOf(pod.metadata?.ownerReferences);
  if (!owner) return undefined;
  if (owner.kind === "ReplicaSet")
    return deploymentRevisions(kube, pod.metadata?.namespace ?? "", owner.name);
  if (owner.kind === "StatefulSet" || owner.kind === "DaemonSet")
    return controllerRevisions(kube, pod, owner);
  return undefined;
}
