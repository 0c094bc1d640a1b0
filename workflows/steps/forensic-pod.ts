import type { V1Pod } from "@kubernetes/client-node";

import {
  FORENSIC_ANNOTATIONS,
  buildDenyAllPolicy,
  buildForensicPod,
  forensicPodName,
} from "../../src/k8s/forensic-pod.ts";
import { isConflict } from "../../src/k8s/kube-errors.ts";
import type { CaptureRun, CaptureStatus } from "./capture-run.ts";

/** What the forensic pod says about itself: the DESIGN annotations (contract). */
export function forensicAnnotations(
  status: CaptureStatus,
  signature: string,
  expiresAt: string,
): Record<string, string> {
  const annotations: Record<string, string> = {
    [FORENSIC_ANNOTATIONS.signature]: signature,
    [FORENSIC_ANNOTATIONS.sourcePod]: `${status.namespace}/${status.pod}`,
    [FORENSIC_ANNOTATIONS.snapshots]: status.snapshots.join(","),
    [FORENSIC_ANNOTATIONS.expiresAt]: expiresAt,
  };
  if (status.evidence) {
    annotations[FORENSIC_ANNOTATIONS.evidence] = status.evidence.custodyUri;
    annotations[FORENSIC_ANNOTATIONS.bundleSha256] = status.evidence.custodySha256;
    if (status.evidence.logSha256)
      annotations[FORENSIC_ANNOTATIONS.logSha256] = status.evidence.logSha256;
  }
  if (status.checkpoint) {
    const { node, archivePath, uri } = status.checkpoint;
    annotations[FORENSIC_ANNOTATIONS.checkpoint] = `${node}:${archivePath}${uri ? ` ${uri}` : ""}`;
  }
  return annotations;
}

/**
 * The deny-all NetworkPolicy first, then the inert copy of the crashed pod; without the policy
 * there is no copy, since it could otherwise talk to production. Returns the pod's TTL in
 * seconds when a copy exists, for the caller to schedule its removal.
 */
export async function createForensicCopy(
  run: CaptureRun,
  source: V1Pod,
  namespace: string,
  restoredClaims: Record<string, string>,
): Promise<{ namespace: string; name: string; ttlS: number } | undefined> {
  const { ctx, deps, event, captureId, status } = run;
  const { ttlS } = run.capture.forensicPod;
  const policy = await run.step(
    "create network policy",
    async () => {
      const body = buildDenyAllPolicy(captureId, namespace);
      try {
        await deps.kube.networking.createNamespacedNetworkPolicy({ namespace, body });
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
      return body.metadata!.name!;
    },
    (name) => `${namespace}/${name} denies all ingress and egress`,
  );
  if (!policy) {
    run.skip("create forensic pod", "no network policy isolates it");
    return undefined;
  }
  const expiresAt = new Date((await ctx.date.now()) + ttlS * 1000).toISOString();
  const annotations = forensicAnnotations(status, event.signature, expiresAt);
  const name = await run.step(
    "create forensic pod",
    async () => {
      const body = buildForensicPod({
        source,
        captureId,
        namespace,
        ttlS,
        annotations,
        restoredClaims,
      });
      try {
        await deps.kube.core.createNamespacedPod({ namespace, body });
        deps.metrics.podsCreated.inc({ source_namespace: event.namespace });
      } catch (error) {
        // The pod this step created before the process died: counted then, not again.
        if (!isConflict(error)) throw error;
      }
      return forensicPodName(captureId);
    },
    (podName) => `${namespace}/${podName}, expires ${expiresAt}`,
  );
  if (!name) return undefined;
  status.forensicPod = { namespace, name };
  run.save();
  return { namespace, name, ttlS };
}
