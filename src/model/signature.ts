import { createHash } from "node:crypto";

import type { WorkloadRef } from "./pod-event.ts";

function sha256OfParts(parts: readonly string[]): string {
  return createHash("sha256").update(parts.join("\0")).digest("hex");
}

export type SignatureInput = {
  cluster: string;
  namespace: string;
  workload: WorkloadRef;
  container: string;
  exitCode: number | null;
  reason: string;
};

/**
 * The signature names a unique failure: the same workload's container failing the same way.
 * The workload is written `Kind/name` so a Deployment and a StatefulSet of one name stay apart.
 */
export function computeSignature(input: SignatureInput): string {
  const exitCodeOrReason = input.exitCode === null ? input.reason : String(input.exitCode);
  return sha256OfParts([
    input.cluster,
    input.namespace,
    `${input.workload.kind}/${input.workload.name}`,
    input.container,
    exitCodeOrReason,
  ]);
}

export type OccurrenceInput = {
  podUID: string;
  container: string;
  restartCount: number;
  finishedAt: string | null;
  reason: string;
};

/** One container termination is one occurrence, however many times it is observed or sent. */
export function computeOccurrenceId(input: OccurrenceInput): string {
  return sha256OfParts([
    input.podUID,
    input.container,
    String(input.restartCount),
    input.finishedAt ?? input.reason,
  ]);
}
