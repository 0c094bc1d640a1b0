import type { V1Pod } from "@kubernetes/client-node";

import { isConflict, isNotFound } from "../../src/k8s/kube-errors.ts";
import { EVIDENCE_FILES } from "../../src/evidence/evidence-layout.ts";
import type { CaptureRun, CaptureStatus } from "./capture-run.ts";

/**
 * Why the pod must not be restarted, or undefined when it may: deleting it throws away the
 * crashed container's previous log for good, so only a sealed custody that holds crash.log
 * lets the restart run (a missing bucket, AccessDenied or KMS errors leave the pod alone).
 */
export function withholdRestart(status: CaptureStatus): string | undefined {
  if (!status.evidence)
    return "not restarted: custody is not sealed, and a restart would lose the crash log";
  if (!status.evidence.artifacts.some((a) => a.name === EVIDENCE_FILES.crashLog))
    return "not restarted: custody holds no crash log, and a restart would lose it";
  return undefined;
}

/**
 * Restart after salvage: deletes the crashed pod so its controller recreates it at once. Only a
 * pod with a controller owner: a bare pod would be gone for good. The UID precondition makes sure
 * a pod recreated under the same name in the meantime is left alone.
 */
export async function restartCrashedPod(run: CaptureRun, source: V1Pod): Promise<void> {
  const { deps, event } = run;
  const owner = source.metadata?.ownerReferences?.find((ref) => ref.controller);
  if (!owner) {
    run.skip("restart pod", "a bare pod has no controller to recreate it: left alone");
    return;
  }
  await run.step(
    "restart pod",
    async () => {
      try {
        await deps.kube.core.deleteNamespacedPod({
          name: event.pod,
          namespace: event.namespace,
          body: { preconditions: { uid: source.metadata?.uid } },
        });
        return "deleted";
      } catch (error) {
        // 404: already gone; 409: the UID differs, the controller already made a new one.
        if (isNotFound(error)) return "already gone";
        if (isConflict(error)) return "already replaced";
        throw error;
      }
    },
    (outcome) => `${outcome}; ${owner.kind}/${owner.name} recreates it`,
  );
}
