import type { V1PersistentVolumeClaim } from "@kubernetes/client-node";

import type { KubeAccess } from "./kube-access.ts";
import { boundedName } from "./names.ts";
import { podmortemLabels } from "./podmortem-labels.ts";
import { isConflict, isNotFound } from "./kube-errors.ts";

export const SNAPSHOT_GROUP = "snapshot.storage.k8s.io";
export const SNAPSHOT_VERSION = "v1";

/**
 * What the snapshot controller says. `error` may stay set after a later attempt succeeded, and
 * is retried by the controller while the snapshot is not ready: only `readyToUse` is decisive.
 */
export type SnapshotState = { name: string; readyToUse: boolean; error: string | undefined };

export function snapshotName(captureId: string, claim: string): string {
  return boundedName(`${captureId}-${claim}`);
}

export function restoredClaimName(captureId: string, claim: string): string {
  return boundedName(`${captureId}-${claim}-restored`);
}

/** Idempotent: a replayed step finds the snapshot it made before. */
export async function createVolumeSnapshot(
  kube: KubeAccess,
  input: {
    namespace: string;
    name: string;
    claim: string;
    className: string | null;
    captureId: string;
  },
): Promise<void> {
  try {
    await kube.custom.createNamespacedCustomObject({
      group: SNAPSHOT_GROUP,
      version: SNAPSHOT_VERSION,
      namespace: input.namespace,
      plural: "volumesnapshots",
      body: {
        apiVersion: `${SNAPSHOT_GROUP}/${SNAPSHOT_VERSION}`,
        kind: "VolumeSnapshot",
        metadata: {
          name: input.name,
          namespace: input.namespace,
          labels: podmortemLabels("forensic-copy", input.captureId),
        },
        spec: {
          source: { persistentVolumeClaimName: input.claim },
          ...(input.className ? { volumeSnapshotClassName: input.className } : {}),
        },
      },
    });
  } catch (error) {
    if (!isConflict(error)) throw error;
  }
}

export async function readSnapshotState(
  kube: KubeAccess,
  namespace: string,
  name: string,
): Promise<SnapshotState> {
  const snapshot = (await kube.custom.getNamespacedCustomObject({
    group: SNAPSHOT_GROUP,
    version: SNAPSHOT_VERSION,
    namespace,
    plural: "volumesnapshots",
    name,
  })) as { status?: { readyToUse?: boolean; error?: { message?: string } } };
  return {
    name,
    readyToUse: snapshot.status?.readyToUse === true,
    error: snapshot.status?.error?.message,
  };
}

/** A claim restored from a snapshot, in the snapshot's namespace (data sources cannot cross namespaces). */
export async function restoreClaim(
  kube: KubeAccess,
  input: {
    namespace: string;
    name: string;
    snapshot: string;
    source: V1PersistentVolumeClaim;
    captureId: string;
  },
): Promise<void> {
  try {
    await kube.core.createNamespacedPersistentVolumeClaim({
      namespace: input.namespace,
      body: {
        metadata: {
          name: input.name,
          labels: podmortemLabels("forensic-copy", input.captureId),
        },
        spec: {
          accessModes: input.source.spec?.accessModes ?? ["ReadWriteOnce"],
          // A block volume restored as a filesystem one would be formatted on first mount.
          ...(input.source.spec?.volumeMode ? { volumeMode: input.source.spec.volumeMode } : {}),
          ...(input.source.spec?.storageClassName
            ? { storageClassName: input.source.spec.storageClassName }
            : {}),
          resources: {
            requests: { storage: input.source.spec?.resources?.requests?.storage ?? "1Gi" },
          },
          dataSource: { apiGroup: SNAPSHOT_GROUP, kind: "VolumeSnapshot", name: input.snapshot },
        },
      },
    });
  } catch (error) {
    if (!isConflict(error)) throw error;
  }
}

/** Idempotent: an object already gone is what the caller wanted. */
export async function deleteVolumeSnapshot(
  kube: KubeAccess,
  namespace: string,
  name: string,
): Promise<void> {
  try {
    await kube.custom.deleteNamespacedCustomObject({
      group: SNAPSHOT_GROUP,
      version: SNAPSHOT_VERSION,
      namespace,
      plural: "volumesnapshots",
      name,
    });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

export async function deleteRestoredClaim(
  kube: KubeAccess,
  namespace: string,
  name: string,
): Promise<void> {
  try {
    await kube.core.deleteNamespacedPersistentVolumeClaim({ name, namespace });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
