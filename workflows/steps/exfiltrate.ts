import * as restate from "@restatedev/restate-sdk";

import { EVIDENCE_FILES } from "../../src/evidence/evidence-layout.ts";
import { isConflict, isNotFound } from "../../src/k8s/kube-errors.ts";
import type { CheckpointResult } from "../../src/k8s/kubelet.ts";
import { parseRetrieveResult, type RetrieveResult } from "../../src/retriever/retrieve.ts";
import type { CaptureRun } from "./capture-run.ts";
import { buildRetrieverPod, RETRIEVER_DEADLINE_S, retrieverPodName } from "./retriever-pod.ts";
import { failureMessage, runStep } from "./step-runner.ts";

/** Polls start often (a small archive is done in a second or two) and slow down to this. */
const RETRIEVER_POLL_MAX_S = 15;

type RetrieverState = { phase: string; message: string | null; exitCode: number | null };

/**
 * Retriever pods tried in all: one that dies, is evicted, or exhausts its own S3 retries leaves
 * the archive on the node (it is removed only after a complete upload), so another may try.
 */
export const RETRIEVER_ATTEMPTS = 3;

type AttemptOutcome = { result: RetrieveResult } | { failure: string };

/**
 * Brings a checkpoint archive from the node into the evidence store: a retriever pod pinned to
 * the node streams it to S3 and reports size and SHA-256 in its termination message, then the
 * pod is deleted. Each pod's name is the capture's and the attempt's, so a replay finds the pod
 * it started and never uploads twice. A refusal (over the size limit) is final; a retriever that
 * fails is followed by another, up to RETRIEVER_ATTEMPTS. Returns the bytes stored (0 when none).
 */
export async function exfiltrateCheckpoint(
  run: CaptureRun,
  checkpoint: CheckpointResult,
): Promise<number> {
  const { ctx, event, status } = run;
  const name = "exfiltrate checkpoint";
  const file = EVIDENCE_FILES.checkpoint(event.container);
  const failures: string[] = [];
  let result: RetrieveResult | undefined;
  let checks = 0;
  for (let attempt = 1; attempt <= RETRIEVER_ATTEMPTS && !result; attempt += 1) {
    const outcome = await runRetriever(run, checkpoint, attempt, file, () => (checks += 1));
    if ("result" in outcome) result = outcome.result;
    else failures.push(`attempt ${attempt}: ${outcome.failure}`);
  }

  if (result?.outcome !== "stored") {
    run.record({
      name,
      outcome: "failed",
      detail:
        result?.outcome === "refused"
          ? `${result.reason}${result.deleted ? "; removed from the node" : ""}`
          : failures.join("; "),
    });
    return 0;
  }
  run.artifacts.push({
    name: file,
    key: result.key,
    uri: result.uri,
    size: result.size,
    sha256: result.sha256,
    truncated: false,
    capturedAt: new Date(await ctx.date.now()).toISOString(),
  });
  status.checkpoint = {
    node: checkpoint.node,
    archivePath: checkpoint.archivePath,
    uri: result.uri,
    sha256: result.sha256,
  };
  const retried = failures.length > 0 ? ` (after ${failures.join("; ")})` : "";
  run.record({
    name,
    outcome: "ok",
    detail: `${result.size} bytes → ${result.uri}${result.deleted ? ", removed from the node" : ""}${retried}`,
  });
  return result.size;
}

/** One retriever pod: started, watched until it reports or fails, deleted. */
async function runRetriever(
  run: CaptureRun,
  checkpoint: CheckpointResult,
  attempt: number,
  file: string,
  nextCheck: () => number,
): Promise<AttemptOutcome> {
  const { ctx, deps, captureId, settings } = run;
  const podName = retrieverPodName(captureId, attempt);
  const namespace = settings.retriever.namespace;
  const suffix = attempt > 1 ? ` ${attempt}` : "";
  const retrieverPod = buildRetrieverPod({
    captureId,
    attempt,
    node: checkpoint.node,
    archivePath: checkpoint.archivePath,
    key: `${run.folder}${file}`,
    maxBytes: run.capture.checkpoint.maxBytes,
    deleteFromNode: run.capture.checkpoint.deleteFromNode,
    lastAttempt: attempt === RETRIEVER_ATTEMPTS,
    retriever: settings.retriever,
    evidence: settings.evidence,
  });
  const started = await run.step(
    `start retriever${suffix}`,
    async () => {
      try {
        await deps.kube.core.createNamespacedPod({ namespace, body: retrieverPod });
      } catch (error) {
        // A replay of this step: the pod started before is the one to wait for.
        if (!isConflict(error)) throw error;
      }
      return podName;
    },
    (pod) => `${namespace}/${pod} on ${checkpoint.node}`,
  );
  if (!started) return { failure: "the retriever pod could not be started" };

  let outcome: AttemptOutcome | undefined;
  const deadlineMs = (await ctx.date.now()) + (RETRIEVER_DEADLINE_S + 120) * 1000;
  for (let polls = 1; outcome === undefined; polls += 1) {
    let state: RetrieverState;
    try {
      state = await runStep(ctx, deps.metrics, `check retriever ${nextCheck()}`, async () => {
        const current = await deps.kube.core.readNamespacedPod({ name: podName, namespace });
        const terminated = current.status?.containerStatuses?.[0]?.state?.terminated;
        return {
          phase: current.status?.phase ?? "",
          message: terminated?.message ?? null,
          exitCode: terminated?.exitCode ?? null,
        };
      });
    } catch (error) {
      if (!(error instanceof restate.TerminalError)) throw error;
      outcome = { failure: `the retriever could not be read: ${failureMessage(error)}` };
      break;
    }
    if (state.message !== null) {
      const result = parseRetrieveResult(state.message);
      outcome = result
        ? { result }
        : { failure: `it exited ${state.exitCode}: ${state.message.slice(-500).trim()}` };
    } else if (state.exitCode !== null || state.phase === "Failed" || state.phase === "Succeeded") {
      outcome = {
        failure: `it ended ${state.phase || "terminated"} (exit ${state.exitCode}) without a result`,
      };
    } else if ((await ctx.date.now()) >= deadlineMs) {
      outcome = { failure: `it did not finish within ${RETRIEVER_DEADLINE_S} s` };
    } else {
      await ctx.sleep({ seconds: Math.min(RETRIEVER_POLL_MAX_S, polls) }, "wait for retriever");
    }
  }

  await run.step(
    `delete retriever${suffix}`,
    async () => {
      try {
        await deps.kube.core.deleteNamespacedPod({
          name: podName,
          namespace,
          gracePeriodSeconds: 0,
        });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      return true;
    },
    () => `${namespace}/${podName} deleted`,
  );
  return outcome;
}
