import * as restate from "@restatedev/restate-sdk";

import type { CustodyArtifact } from "../src/evidence/custody.ts";
import { evidenceFolder } from "../src/evidence/evidence-layout.ts";
import type { EvidenceStore } from "../src/evidence/evidence-store.ts";
import type { KubeAccess } from "../src/k8s/kube-access.ts";
import type { PodEvent } from "../src/model/pod-event.ts";
import { Cluster } from "./cluster.object.ts";
import type { WorkflowMetrics } from "./metrics.ts";
import { announce } from "./milestones.ts";
import { captureCrashLog, sealCustody } from "./steps/evidence.ts";
import { failureMessage, runStep, type StepRecord } from "./steps/step-runner.ts";

export type CaptureDeps = {
  kube: KubeAccess;
  store: EvidenceStore;
  metrics: WorkflowMetrics;
  evidencePrefix: string | undefined;
  identity: string;
  version: string;
};

export type CaptureRequest = { event: PodEvent; incidentKey: string };

export const CAPTURE_PHASES = ["running", "succeeded", "partial", "failed"] as const;
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
};

const STATUS_KEY = "status";

function phaseOf(steps: readonly StepRecord[]): CapturePhase {
  const failed = steps.filter((step) => step.outcome === "failed").length;
  if (failed === 0) return "succeeded";
  return failed === steps.length ? "failed" : "partial";
}

export function createCaptureWorkflow(deps: CaptureDeps) {
  return restate.workflow({
    name: "Capture",
    handlers: {
      run: async (
        ctx: restate.WorkflowContext,
        request: CaptureRequest,
      ): Promise<CaptureStatus> => {
        const { event } = request;
        const startedAtMs = await ctx.date.now();
        const isoNow = () => new Date().toISOString();
        const { config } = await ctx.objectClient(Cluster, event.cluster).captureConfig();
        const folder = evidenceFolder({
          prefix: deps.evidencePrefix,
          cluster: event.cluster,
          namespace: event.namespace,
          pod: event.pod,
          capturedAtMs: startedAtMs,
        });
        const status: CaptureStatus = {
          captureId: ctx.key,
          phase: "running",
          cluster: event.cluster,
          namespace: event.namespace,
          pod: event.pod,
          container: event.container,
          signature: event.signature,
          startedAt: new Date(startedAtMs).toISOString(),
          finishedAt: null,
          steps: [],
          evidence: null,
        };
        const record = (step: StepRecord) => {
          status.steps.push(step);
          ctx.set(STATUS_KEY, status);
          if (step.outcome === "failed") {
            deps.metrics.podCreationErrors.inc({
              source_namespace: event.namespace,
              step: step.name,
            });
          }
        };
        ctx.set(STATUS_KEY, status);
        announce(ctx, { kind: "capture.started", captureId: ctx.key, event });

        const artifacts: CustodyArtifact[] = [];
        if (config.capture.steps.evidence) {
          try {
            const crashLog = await runStep(ctx, deps.metrics, "capture logs", async () => {
              const artifact = await captureCrashLog(deps, {
                event,
                folder,
                logs: config.capture.logs,
                nowIso: isoNow,
              });
              if (artifact) deps.metrics.bytesStored.inc({ kind: "log" }, artifact.size);
              return artifact ?? null;
            });
            if (crashLog) artifacts.push(crashLog);
            record({
              name: "capture logs",
              outcome: crashLog ? "ok" : "skipped",
              detail: crashLog ? `crash.log ${crashLog.size} bytes` : "the container has no log",
            });
          } catch (error) {
            if (!(error instanceof restate.TerminalError)) throw error;
            record({ name: "capture logs", outcome: "failed", detail: failureMessage(error) });
          }

          try {
            const custody = await runStep(ctx, deps.metrics, "seal custody", () =>
              sealCustody(
                deps.store,
                {
                  captureId: ctx.key,
                  event,
                  folder,
                  capturedAt: status.startedAt,
                  capturedBy: { tool: "podmortem", version: deps.version, identity: deps.identity },
                  artifacts,
                },
                isoNow(),
              ),
            );
            status.evidence = {
              folder,
              custodyUri: custody.uri,
              custodySha256: custody.sha256,
              logSha256: artifacts.find((a) => a.name === "crash.log")?.sha256 ?? null,
              artifacts,
            };
            record({ name: "seal custody", outcome: "ok", detail: custody.uri });
          } catch (error) {
            if (!(error instanceof restate.TerminalError)) throw error;
            record({ name: "seal custody", outcome: "failed", detail: failureMessage(error) });
          }
        }

        status.phase = phaseOf(status.steps);
        status.finishedAt = new Date(await ctx.date.now()).toISOString();
        ctx.set(STATUS_KEY, status);
        announce(ctx, {
          kind: "capture.finished",
          captureId: ctx.key,
          event,
          outcome: status.phase === "running" ? "failed" : status.phase,
          summary: status,
        });
        await ctx.run("count capture", () => {
          deps.metrics.capturesCompleted.inc({ outcome: status.phase });
        });
        return status;
      },

      status: async (ctx: restate.WorkflowSharedContext) =>
        (await ctx.get<CaptureStatus>(STATUS_KEY)) ?? null,
    },
  });
}

export type CaptureWorkflow = ReturnType<typeof createCaptureWorkflow>;
