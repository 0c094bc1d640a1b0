import type { V1Pod } from "@kubernetes/client-node";
import * as restate from "@restatedev/restate-sdk";

import { isNotFound } from "../../src/k8s/kube-errors.ts";
import {
  createVolumeSnapshot,
  deleteRestoredClaim,
  deleteVolumeSnapshot,
  readSnapshotState,
  restoreClaim,
  restoredClaimName,
  snapshotName,
  type SnapshotState,
} from "../../src/k8s/snapshots.ts";
import type { WorkflowMetrics } from "../metrics.ts";
import type { CaptureDeps, CaptureRun, CaptureStatus } from "./capture-run.ts";
import { runStep } from "./step-runner.ts";

/** Between two reads of the snapshots' status; each wait is a durable sleep. */
export const SNAPSHOT_POLL_S = 5;

export function claimsOf(pod: V1Pod): string[] {
  return (pod.spec?.volumes ?? []).flatMap((volume) =>
    volume.persistentVolumeClaim?.claimName ? [volume.persistentVolumeClaim.claimName] : [],
  );
}

type Waited = { ready: string[]; pending: SnapshotState[] } | { unreadable: string };

/**
 * Waits until every snapshot is ready to use or the timeout passes, as the CSI
 * external-snapshotter behaves: `readyToUse: true` wins over an `error` left from an earlier
 * attempt, and an error on a snapshot not yet ready (a conflict, a busy volume) is one the
 * controller retries, so it is waited out rather than taken as final.
 */
async function waitForSnapshots(run: CaptureRun, names: string[]): Promise<Waited> {
  const { ctx, deps, event } = run;
  const settings = run.capture.snapshots;
  const deadlineMs = (await ctx.date.now()) + settings.readyTimeoutS * 1000;
  for (let check = 1; ; check += 1) {
    const states = await runStep(ctx, deps.metrics, `check snapshots ${check}`, () =>
      Promise.all(names.map((name) => readSnapshotState(deps.kube, event.namespace, name))),
    ).catch((error: unknown) => {
      if (error instanceof restate.TerminalError) return error;
      throw error;
    });
    if (states instanceof restate.TerminalError) return { unreadable: states.message };
    const ready = states.filter((state) => state.readyToUse).map((state) => state.name);
    const pending = states.filter((state) => !state.readyToUse);
    if (pending.length === 0 || (await ctx.date.now()) >= deadlineMs) return { ready, pending };
    await ctx.sleep({ seconds: SNAPSHOT_POLL_S }, "wait for snapshots");
  }
}

/**
 * A VolumeSnapshot per claim the pod mounts, waited on until ready to use (or the configured
 * timeout), then, when configured, a claim restored from each ready one (a block claim as a block
 * claim). Returns the restored claims by source claim name, for the forensic pod to mount.
 * What was made is kept in the status, for the copy's TTL to delete.
 */
export async function snapshotVolumes(
  run: CaptureRun,
  pod: V1Pod | undefined,
  forensicNamespace: string,
): Promise<Record<string, string>> {
  const { deps, event, captureId, status } = run;
  const settings = run.capture.snapshots;
  if (!run.needPod("create volume snapshots", pod)) return {};
  const claims = claimsOf(pod);
  if (claims.length === 0) {
    run.skip("create volume snapshots", "the pod mounts no persistent volume claims");
    return {};
  }
  // Recorded before the step: a snapshot the step made before it failed is still deleted.
  status.createdVolumes = {
    namespace: event.namespace,
    snapshots: claims.map((claim) => snapshotName(captureId, claim)),
    claims: [],
    keepAfterExpiry: settings.keepAfterExpiry,
  };
  run.save();
  const names = await run.step(
    "create volume snapshots",
    async () => {
      const made: string[] = [];
      for (const claim of claims) {
        const name = snapshotName(captureId, claim);
        await createVolumeSnapshot(deps.kube, {
          namespace: event.namespace,
          name,
          claim,
          className: settings.className,
          captureId,
        });
        made.push(name);
      }
      return made;
    },
    (made) => made.join(", "),
  );
  if (!names) return {};

  const waited = await waitForSnapshots(run, names);
  if ("unreadable" in waited) {
    run.record({
      name: "wait for snapshots",
      outcome: "failed",
      detail: `could not read the snapshots: ${waited.unreadable}`,
    });
    return {};
  }
  // The annotation names only snapshots an engineer can restore from.
  status.snapshots = waited.ready;
  run.save();
  if (waited.pending.length > 0) {
    const pending = waited.pending.map((state) =>
      state.error ? `${state.name} (${state.error})` : state.name,
    );
    run.record({
      name: "wait for snapshots",
      outcome: "failed",
      detail: `not ready to use after ${settings.readyTimeoutS} s: ${pending.join(", ")}`,
    });
  } else {
    run.record({
      name: "wait for snapshots",
      outcome: "ok",
      detail: `${waited.ready.length} ready to use`,
    });
  }
  const readyClaims = claims.filter((claim) =>
    waited.ready.includes(snapshotName(captureId, claim)),
  );
  if (readyClaims.length === 0) return {};

  if (!settings.restoreAndMount) {
    run.skip("restore volumes", "restoreAndMount is off in the config");
    return {};
  }
  if (forensicNamespace !== event.namespace) {
    run.skip(
      "restore volumes",
      `snapshots cannot be restored across namespaces (${event.namespace} → ${forensicNamespace})`,
    );
    return {};
  }
  status.createdVolumes.claims = readyClaims.map((claim) => restoredClaimName(captureId, claim));
  run.save();
  const restored = await run.step(
    "restore volumes",
    async () => {
      const made: Record<string, string> = {};
      for (const claim of readyClaims) {
        const source = await deps.kube.core.readNamespacedPersistentVolumeClaim({
          name: claim,
          namespace: event.namespace,
        });
        const name = restoredClaimName(captureId, claim);
        await restoreClaim(deps.kube, {
          namespace: event.namespace,
          name,
          snapshot: snapshotName(captureId, claim),
          source,
          captureId,
        });
        made[claim] = name;
      }
      return made;
    },
    (made) => Object.values(made).join(", "),
  );
  if (!restored) return {};
  status.restoredClaims = Object.values(restored);
  run.save();
  return restored;
}

/**
 * At the copy's TTL: the claims restored for it, then the snapshots, from what the capture
 * recorded in its own state (never from a request). Kept when the capture's config said so.
 */
export async function deleteCapturedVolumes(
  ctx: restate.Context,
  deps: Pick<CaptureDeps, "kube"> & { metrics: WorkflowMetrics },
  status: CaptureStatus | null,
): Promise<void> {
  const volumes = status?.createdVolumes;
  if (!volumes || volumes.keepAfterExpiry) return;
  const { namespace } = volumes;
  if (volumes.claims.length > 0) {
    await runStep(ctx, deps.metrics, "delete restored volumes", async () => {
      for (const name of volumes.claims) await deleteRestoredClaim(deps.kube, namespace, name);
    });
  }
  if (volumes.snapshots.length > 0) {
    await runStep(ctx, deps.metrics, "delete volume snapshots", async () => {
      for (const name of volumes.snapshots) {
        try {
          await deleteVolumeSnapshot(deps.kube, namespace, name);
        } catch (error) {
          // No VolumeSnapshot CRD at all (snapshots never worked here): nothing to delete.
          if (!isNotFound(error)) throw error;
        }
      }
    });
  }
}
