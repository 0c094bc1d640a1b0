import type { V1Pod } from "@kubernetes/client-node";
import * as restate from "@restatedev/restate-sdk";

import type { WorkflowsConfig } from "../../src/config/workflows-config.ts";
import type { CustodyArtifact } from "../../src/evidence/custody.ts";
import type { EvidenceStore } from "../../src/evidence/evidence-store.ts";
import { classifyS3Error } from "../../src/evidence/s3-errors.ts";
import type { KubeAccess } from "../../src/k8s/kube-access.ts";
import { classifyKubeError } from "../../src/k8s/kube-errors.ts";
import type { CaptureTrigger } from "../../src/model/capture-request.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import type { RemoteConfig } from "../../src/model/remote-config.ts";
import type { WorkflowMetrics } from "../metrics.ts";
import { failureMessage, runStep, type StepRecord } from "./step-runner.ts";

export type CaptureSettings = {
  retriever: WorkflowsConfig["retriever"];
  evidence: WorkflowsConfig["evidence"];
  kubeletInsecureTls: boolean;
};

export type CaptureDeps = {
  kube: KubeAccess;
  store: EvidenceStore;
  metrics: WorkflowMetrics;
  evidencePrefix: string | undefined;
  identity: string;
  version: string;
  settings?: CaptureSettings;
};

/**
 * `unconfirmed`: the API server did not confirm the event's claim, so nothing was created;
 * `refused`: podmortem's own pod, or a pod already captured within the window.
 */
export const CAPTURE_PHASES = [
  "running",
  "succeeded",
  "partial",
  "failed",
  "unconfirmed",
  "refused",
] as const;
export type CapturePhase = (typeof CAPTURE_PHASES)[number];

export type CaptureEvidence = {
  folder: string;
  custodyUri: string;
  custodySha256: string;
  logSha256: string | null;
  artifacts: CustodyArtifact[];
};

export type CaptureStatus = {
  captureId: string;
  phase: CapturePhase;
  cluster: string;
  namespace: string;
  pod: string;
  container: string;
  signature: string;
  startedAt: string;
  finishedAt: string | null;
  steps: StepRecord[];
  evidence: CaptureEvidence | null;
  /** Snapshots ready to use: what `forensic.io/snapshots` names. */
  snapshots: string[];
  restoredClaims: string[];
  /** Every snapshot and claim the capture made, for the copy's TTL to delete. */
  createdVolumes?: {
    namespace: string;
    snapshots: string[];
    claims: string[];
    keepAfterExpiry: boolean;
  };
  checkpoint: {
    node: string;
    archivePath: string;
    uri: string | null;
    sha256: string | null;
  } | null;
  forensicPod: { namespace: string; name: string } | null;
  /** The report's one-line answer (report.json `headline`), for the Restate UI and the CLI. */
  headline?: string;
  /** The code of the report's top finding, `unknown` when no rule named a cause. */
  topFinding?: string;
  /** What the API server said about the event's claim (steps/confirm-claim.ts). */
  claim?: { kind: string; detail: string } | null;
  /** Why the capture ran: a crash, or an on-demand request and who made it. */
  trigger?: CaptureTrigger;
  /** Why a cap of capture.limits kept this capture from creating objects, when one did. */
  limited?: string | null;
};

export const STATUS_KEY = "status";

/**
 * One execution of `Capture.run`, as the step files see it: the context, the source event, the
 * status being built, and the helpers that run a step and record its outcome. Everything here is
 * rebuilt identically on replay; side effects happen only inside the steps' `ctx.run`s.
 */
export type CaptureRun = {
  ctx: restate.WorkflowContext;
  deps: CaptureDeps;
  settings: CaptureSettings;
  captureId: string;
  event: PodEvent;
  capture: RemoteConfig["capture"];
  folder: string;
  status: CaptureStatus;
  /** Artifacts sealed by custody.json, in the order they were stored. */
  artifacts: CustodyArtifact[];
  record(step: StepRecord): void;
  skip(name: string, detail: string): void;
  /** Records a failure of a step that needs the pod when the pod is gone; returns the pod. */
  needPod(name: string, pod: V1Pod | undefined): pod is V1Pod;
  /** Runs a step; a permanent failure is recorded and undefined returned, so the capture goes on. */
  step<T>(
    name: string,
    action: () => Promise<T>,
    describe: (value: T) => string,
    retry?: restate.RunOptions<T>,
  ): Promise<T | undefined>;
  save(): void;
};

/** S3 errors carry their status in `$metadata`; everything else is a Kubernetes call. */
export function classifyStepError(error: unknown): "terminal" | "retryable" {
  if (typeof error === "object" && error !== null && "$metadata" in error)
    return classifyS3Error(error);
  return classifyKubeError(error);
}

export function phaseOf(steps: readonly StepRecord[]): CapturePhase {
  const failed = steps.filter((step) => step.outcome === "failed").length;
  if (failed === 0) return "succeeded";
  return failed === steps.filter((step) => step.outcome !== "skipped").length
    ? "failed"
    : "partial";
}

export function createCaptureRun(input: {
  ctx: restate.WorkflowContext;
  deps: CaptureDeps;
  settings: CaptureSettings;
  event: PodEvent;
  capture: RemoteConfig["capture"];
  folder: string;
  status: CaptureStatus;
}): CaptureRun {
  const { ctx, deps, event, status } = input;
  const save = () => ctx.set(STATUS_KEY, status);
  const record = (step: StepRecord) => {
    status.steps.push(step);
    save();
  };
  return {
    ...input,
    captureId: ctx.key,
    artifacts: [],
    record,
    save,
    skip: (name, detail) => record({ name, outcome: "skipped", detail }),
    needPod(name, pod): pod is V1Pod {
      if (pod) return true;
      record({
        name,
        outcome: "failed",
        detail: `pod ${event.namespace}/${event.pod} no longer exists`,
      });
      return false;
    },
    async step(name, action, describe, retry) {
      try {
        const value = await runStep(ctx, deps.metrics, name, action, {
          classify: classifyStepError,
          ...(retry ? { retry } : {}),
        });
        record({ name, outcome: "ok", detail: describe(value) });
        return value;
      } catch (error) {
        if (!(error instanceof restate.TerminalError)) throw error;
        record({ name, outcome: "failed", detail: failureMessage(error) });
        return undefined;
      }
    },
  };
}
