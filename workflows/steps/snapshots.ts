import type { V1Pod } from "@kubernetes/client-node";
import * as restate from "@restatedev/restate-sdk";

import {
  createVolumeSnapshot,
  readSnapshotState,
  restoreClaim,
  restoredClaimName,
  snapshotName,
} from "../../src/k8s/snapshots.ts";
import type { CaptureRun } from "./capture-run.ts";
import { runStep } from "./step-runner.ts";

/** Between two reads of the snapshots' status; each wait is a durable sleep. */
export const SNAPSHOT_POLL_S = 5;

export function claimsOf(pod: V1Pod): string[] {
  return (pod.spec?.volumes ?? []).flatMap((volume) =>
    volume.persistentVolumeClaim?.claimName ? [volume.persistentVolumeClaim.claimName] : [],
  );
}

/**
 * A VolumeSnapshot per claim the pod mounts, waited on until ready to use (or the configured
 * timeout), then, when configured, a claim restored from each. Returns the restored claims by
 * source claim name, for the forensic pod to mount.
 */
export async function snapshotVolumes(
  run: CaptureRun,
  pod: V1Pod | undefined,
  forensicNamespace: string,
): Promise<Record<string, string>> {
  const { ctx, deps, event, captureId, status } = run;
  const settings = run.capture.snapshots;
  if (!run.needPod("create volume snapshots", pod)) return {};
  const claims = claimsOf(pod);
  if (claims.length === 0) {
    run.skip("create volume snapshots", "the pod mounts no persistent volume claims");
    return {};
  }
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
  status.snapshots = names;
  run.save();

  const deadlineMs = (await ctx.date.now()) + settings.readyTimeoutS * 1000;
  for (let check = 1; ; check += 1) {
    const states = await runStep(ctx, deps.metrics, `check snapshots ${check}`, () =>
      Promise.all(names.map((name) => readSnapshotState(deps.kube, event.namespace, name))),
    ).catch((error: unknown) => {
      if (error instanceof restate.TerminalError) return error;
      throw error;
    });
    if (states instanceof restate.TerminalError) {
      run.record({
        name: "wait for snapshots",
        outcome: "failed",
        detail: `could not read the snapshots: ${states.message}`,
      });
      return {};
    }
    const failed = states.find((state) => state.error);
    if (failed) {
      run.record({
        name: "wait for snapshots",
        outcome: "failed",
        detail: `${failed.name}: ${failed.error}`,
      });
      return {};
    }
    if (states.every((state) => state.readyToUse)) break;
    if ((await ctx.date.now()) >= deadlineMs) {
      const pending = states.filter((state) => !state.readyToUse).map((state) => state.name);
      run.record({
        name: "wait for snapshots",
        outcome: "failed",
        detail: `not ready to use after ${settings.readyTimeoutS} s: ${pending.join(", ")}`,
      });
      return {};
    }
    await ctx.sleep({ seconds: SNAPSHOT_POLL_S }, "wait for snapshots");
  }
  run.record({ name: "wait for snapshots", outcome: "ok", detail: `${names.length} ready to use` });

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
  const restored = await run.step(
    "restore volumes",
    async () => {
      const made: Record<string, string> = {};
      for (const claim of claims) {
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
