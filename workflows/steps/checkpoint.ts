import type { V1Pod } from "@kubernetes/client-node";
import * as restate from "@restatedev/restate-sdk";

import { isNotFound } from "../../src/k8s/kube-errors.ts";
import { checkpointContainer, type CheckpointResult } from "../../src/k8s/kubelet.ts";
import type { CaptureRun } from "./capture-run.ts";
import { failureMessage, runStep } from "./step-runner.ts";
import { readPodOrFail } from "./read-pod.ts";

export function isRunning(pod: V1Pod, container: string): boolean {
  return Boolean(
    pod.status?.containerStatuses?.find((status) => status.name === container)?.state?.running,
  );
}

type CheckpointAttempt = CheckpointResult | { notRunning: string };

/** Reads the pod now: why its crashed container cannot be checkpointed, or undefined. */
async function whyNotRunning(run: CaptureRun): Promise<string | undefined> {
  const { deps, event } = run;
  const current = await readPodOrFail(deps.kube, event.namespace, event.pod);
  if (current.metadata?.uid && current.metadata.uid !== event.podUID)
    return `pod ${event.pod} was replaced by another of the same name`;
  if (!isRunning(current, event.container))
    return `container ${event.container} was not running when the step ran`;
  return undefined;
}

/**
 * Asks the kubelet for a checkpoint of the crashed container, but only when it is running when
 * the step runs (a crash loop's running window): the pod is read again inside the step, since
 * the earlier steps may have taken minutes. Returns the archive's node path, or undefined when
 * no checkpoint was taken (recorded as skipped or failed).
 */
export async function checkpointCrashedContainer(
  run: CaptureRun,
  pod: V1Pod | undefined,
): Promise<CheckpointResult | undefined> {
  const { ctx, deps, event, status } = run;
  const name = "checkpoint container";
  if (!run.needPod(name, pod)) return undefined;
  const node = pod.spec?.nodeName;
  if (!node) {
    run.skip(name, "the pod was never scheduled");
    return undefined;
  }
  let attempt: CheckpointAttempt;
  try {
    attempt = await runStep<CheckpointAttempt>(
      ctx,
      deps.metrics,
      name,
      async () => {
        const before = await whyNotRunning(run);
        if (before) return { notRunning: before };
        try {
          return await checkpointContainer(deps.kube, {
            node,
            namespace: event.namespace,
            pod: event.pod,
            container: event.container,
            timeoutS: run.capture.checkpoint.timeoutS,
            insecureSkipTlsVerify: run.settings.kubeletInsecureTls,
          });
        } catch (error) {
          // 404 is both "not running" and "gate off": the pod's status tells them apart. A
          // container that stopped between the read and the call is a skip, not a failure.
          if (!isNotFound(error)) throw error;
          const after = await whyNotRunning(run);
          if (after) return { notRunning: `${after} (the kubelet answered 404)` };
          throw error;
        }
      },
      // Every attempt that reaches the runtime leaves an archive on the node: few retries.
      { retry: { maxRetryAttempts: 3 } },
    );
  } catch (error) {
    if (!(error instanceof restate.TerminalError)) throw error;
    run.record({ name, outcome: "failed", detail: failureMessage(error) });
    return undefined;
  }
  if ("notRunning" in attempt) {
    run.skip(name, attempt.notRunning);
    return undefined;
  }
  run.record({ name, outcome: "ok", detail: `${attempt.node}:${attempt.archivePath}` });
  status.checkpoint = { node, archivePath: attempt.archivePath, uri: null, sha256: null };
  run.save();
  return attempt;
}
