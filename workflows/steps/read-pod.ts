import type { V1Pod } from "@kubernetes/client-node";

import type { KubeAccess } from "../../src/k8s/kube-access.ts";
import { isNotFound } from "../../src/k8s/kube-errors.ts";
import { StepFailure } from "./step-runner.ts";

/**
 * The pod as the API server has it now. A pod that is gone ends the step for good (retrying will
 * not bring it back); any other failure is thrown as is, for the step's retries.
 */
export async function readPodOrFail(
  kube: KubeAccess,
  namespace: string,
  name: string,
  whenGone = "no longer exists",
): Promise<V1Pod> {
  try {
    return await kube.core.readNamespacedPod({ name, namespace });
  } catch (error) {
    if (isNotFound(error)) throw new StepFailure(`pod ${namespace}/${name} ${whenGone}`);
    throw error;
  }
}
