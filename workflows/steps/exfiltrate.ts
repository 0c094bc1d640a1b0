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
 * Brings a checkpoint archive from the node into the evidence store: a retriever pod pinned to
 * the node streams it to S3 and reports size and SHA-256 in its termination message, then the
 * pod is deleted. The pod's name is the capture's, so a replay finds the pod it started and
 * never uploads twice. Returns the bytes stored (0 when nothing was).
 */
export async function exfiltrateCheckpoint(
  run: CaptureRun,
  checkpoint: CheckpointResult,
): Promise<number> {
  const { ctx, deps, event, captureId, status, settings } = run;
  const name = "exfiltrate checkpoint";
  const podName = retrieverPodName(captureId);
  const namespace = settings.retriever.namespace;
  const file = EVIDENCE_FILES.checkpoint(event.container);
  const retrieverPod = buildRetrieverPod({
    captureId,
    node: checkpoint.node,
    archivePath: checkpoint.archivePath,
    key: `${run.folder}${file}`,
    maxBytes: run.capture.checkpoint.maxBytes,
    deleteFromNode: run.capture.checkpoint.deleteFromNode,
    retriever: settings.retriever,
    evidence: settings.evidence,
  });
  const started = await run.step(
    "start retriever",
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
  if (!started) {
    run.record({ name, outcome: "failed", detail: "the retriever pod could not be started" });
    return 0;
  }

  let result: RetrieveResult | undefined;
  let failure: string | undefined;
  const deadlineMs = (await ctx.date.now()) + (RETRIEVER_DEADLINE_S + 120) * 1000;
  for (let check = 1; result === undefined && failure === undefined; check += 1) {
    let state: RetrieverState;
    try {
      state = await runStep(ctx, deps.metrics, `check retriever ${check}`, async () => {
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
      failure = `the retriever could not be read: ${failureMessage(error)}`;
      break;
    }
    if (state.message !== null) {
      result = parseRetrieveResult(state.message);
      if (!result)
        failure = `the retriever exited ${state.exitCode}: ${state.message.slice(-500).trim()}`;
    } else if (state.exitCode !== null || state.phase === "Failed" || state.phase === "Succeeded") {
      failure = `the retriever ended ${state.phase || "terminated"} (exit ${state.exitCode}) without a result`;
    } else if ((await ctx.date.now()) >= deadlineMs) {
      failure = `the retriever did not finish within ${RETRIEVER_DEADLINE_S} s`;
    } else {
      await ctx.sleep({ seconds: Math.min(RETRIEVER_POLL_MAX_S, check) }, "wait for retriever");
    }
  }

  await run.step(
    "delete retriever",
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

  if (result?.outcome !== "stored") {
    run.record({
      name,
      outcome: "failed",
      detail: result?.outcome === "refused" ? result.reason : (failure ?? "no result"),
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
  run.record({
    name,
    outcome: "ok",
    detail: `${result.size} bytes → ${result.uri}${result.deleted ? ", removed from the node" : ""}`,
  });
  return result.size;
}
