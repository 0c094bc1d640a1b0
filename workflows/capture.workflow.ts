import type { V1Pod } from "@kubernetes/client-node";
import * as restate from "@restatedev/restate-sdk";

import { EVIDENCE_FILES, evidenceFolder } from "../src/evidence/evidence-layout.ts";
import { denyAllPolicyName, forensicPodName } from "../src/k8s/forensic-pod.ts";
import { isNotFound } from "../src/k8s/kube-errors.ts";
import type { PodEvent } from "../src/model/pod-event.ts";
import { Cluster } from "./cluster.object.ts";
import { announce } from "./milestones.ts";
import {
  createCaptureRun,
  phaseOf,
  STATUS_KEY,
  type CaptureDeps,
  type CaptureSettings,
  type CaptureStatus,
} from "./steps/capture-run.ts";
import { captureChanges } from "./steps/changes.ts";
import { checkpointCrashedContainer } from "./steps/checkpoint.ts";
import { salvageEvidence, sealCustody } from "./steps/evidence.ts";
import { exfiltrateCheckpoint } from "./steps/exfiltrate.ts";
import { createForensicCopy } from "./steps/forensic-pod.ts";
import { writeReport } from "./steps/report.ts";
import { restartCrashedPod, withholdRestart } from "./steps/restart.ts";
import { deleteCapturedVolumes, snapshotVolumes } from "./steps/snapshots.ts";
import { runStep, StepFailure, stepLabel } from "./steps/step-runner.ts";

export {
  CAPTURE_PHASES,
  type CaptureDeps,
  type CaptureEvidence,
  type CapturePhase,
  type CaptureSettings,
  type CaptureStatus,
} from "./steps/capture-run.ts";

export type CaptureRequest = { event: PodEvent; incidentKey: string };

const DEFAULT_SETTINGS: CaptureSettings = {
  retriever: { image: "podmortem:dev", namespace: "podmortem", s3Secret: undefined },
  evidence: { kind: "dir", dir: "./.data/evidence", prefix: undefined },
  kubeletInsecureTls: false,
};

export function createCaptureWorkflow(deps: CaptureDeps) {
  const settings = deps.settings ?? DEFAULT_SETTINGS;

  return restate.workflow({
    name: "Capture",
    handlers: {
      /**
       * The forensic steps in order: evidence, snapshots, checkpoint and its exfiltration, the
       * custody seal, the forensic copy, the restart. A step that fails for good is recorded
       * and the steps that do not need its result still run.
       */
      run: async (
        ctx: restate.WorkflowContext,
        request: CaptureRequest,
      ): Promise<CaptureStatus> => {
        const { event } = request;
        const startedAtMs = await ctx.date.now();
        const { config } = await ctx.objectClient(Cluster, event.cluster).captureConfig();
        const capture = config.capture;
        const folder = evidenceFolder({
          prefix: deps.evidencePrefix,
          cluster: event.cluster,
          namespace: event.namespace,
          pod: event.pod,
          capturedAtMs: startedAtMs,
          captureId: ctx.key,
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
          snapshots: [],
          restoredClaims: [],
          checkpoint: null,
          forensicPod: null,
        };
        const run = createCaptureRun({ ctx, deps, settings, event, capture, folder, status });
        run.save();
        announce(ctx, { kind: "capture.started", captureId: run.captureId, event });

        const pod = await run.step(
          "read pod",
          async (): Promise<V1Pod> => {
            try {
              return await deps.kube.core.readNamespacedPod({
                name: event.pod,
                namespace: event.namespace,
              });
            } catch (error) {
              if (isNotFound(error))
                throw new StepFailure(`pod ${event.namespace}/${event.pod} no longer exists`);
              throw error;
            }
          },
          (p) => `${p.metadata?.namespace}/${p.metadata?.name} on ${p.spec?.nodeName ?? "no node"}`,
        );

        if (capture.steps.evidence) await salvageEvidence(run, pod);
        else run.skip("capture crash log", "evidence is off in the config");

        const forensicNamespace = capture.forensicPod.namespace ?? event.namespace;
        let restoredClaims: Record<string, string> = {};
        if (capture.steps.snapshots)
          restoredClaims = await snapshotVolumes(run, pod, forensicNamespace);
        else run.skip("create volume snapshots", "snapshots are off in the config");

        let checkpointBytes = 0;
        if (capture.steps.checkpoint) {
          const checkpoint = await checkpointCrashedContainer(run, pod);
          if (checkpoint) checkpointBytes = await exfiltrateCheckpoint(run, checkpoint);
        } else {
          run.skip(
            "checkpoint container",
            "checkpoints are off in the config (they need the kubelet's ContainerCheckpoint gate)",
          );
        }

        if (capture.steps.evidence && pod) await captureChanges(run, pod);
        if (capture.steps.evidence) await writeReport(run);

        const custody = await run.step(
          "seal custody",
          () =>
            sealCustody(
              deps.store,
              {
                captureId: run.captureId,
                event,
                folder,
                capturedAt: status.startedAt,
                capturedBy: { tool: "podmortem", version: deps.version, identity: deps.identity },
                artifacts: run.artifacts,
              },
              new Date().toISOString(),
            ),
          (c) => `${c.uri} seals ${run.artifacts.length} artifacts`,
        );
        if (custody) {
          status.evidence = {
            folder,
            custodyUri: custody.uri,
            custodySha256: custody.sha256,
            logSha256:
              run.artifacts.find((a) => a.name === EVIDENCE_FILES.crashLog)?.sha256 ?? null,
            artifacts: run.artifacts,
          };
          run.save();
        }

        let copy: Awaited<ReturnType<typeof createForensicCopy>>;
        if (!capture.steps.forensicPod)
          run.skip("create forensic pod", "the forensic pod is off in the config");
        else if (run.needPod("create forensic pod", pod))
          copy = await createForensicCopy(run, pod, forensicNamespace, restoredClaims);
        // The TTL removes the copy and the snapshots and claims made for it (from this state).
        if (copy || status.createdVolumes) {
          ctx.workflowSendClient<CaptureWorkflow>({ name: "Capture" }, run.captureId).expire(
            {
              namespace: copy?.namespace ?? forensicNamespace,
              name: copy?.name ?? forensicPodName(run.captureId),
            },
            restate.rpc.sendOpts({ delay: { seconds: capture.forensicPod.ttlS } }),
          );
        }

        const restartWithheld = withholdRestart(status);
        if (!capture.steps.restartAfterSalvage)
          run.skip("restart pod", "restart after salvage is off in the config");
        else if (restartWithheld) run.skip("restart pod", restartWithheld);
        else if (run.needPod("restart pod", pod)) await restartCrashedPod(run, pod);

        status.phase = phaseOf(status.steps);
        status.finishedAt = new Date(await ctx.date.now()).toISOString();
        run.save();
        // Counted once, inside a step: a replay of this handler does not count again.
        await ctx.run("count capture", () => {
          deps.metrics.capturesCompleted.inc({ outcome: status.phase });
          for (const step of status.steps) {
            if (step.outcome !== "failed") continue;
            deps.metrics.podCreationErrors.inc({
              source_namespace: event.namespace,
              step: stepLabel(step.name),
            });
          }
          if (checkpointBytes > 0)
            deps.metrics.bytesStored.inc({ kind: "checkpoint" }, checkpointBytes);
        });
        announce(ctx, {
          kind: "capture.finished",
          captureId: run.captureId,
          event,
          outcome: status.phase === "running" ? "failed" : status.phase,
          summary: status,
        });
        return status;
      },

      status: async (ctx: restate.WorkflowSharedContext) =>
        (await ctx.get<CaptureStatus>(STATUS_KEY)) ?? null,

      /** The forensic pod's TTL ran out: delete it and its network policy. */
      expire: async (
        ctx: restate.WorkflowSharedContext,
        target: { namespace: string; name: string },
      ) => {
        await runStep(ctx, deps.metrics, "delete forensic pod", async () => {
          try {
            await deps.kube.core.deleteNamespacedPod({
              name: target.name,
              namespace: target.namespace,
              gracePeriodSeconds: 0,
            });
          } catch (error) {
            if (!isNotFound(error)) throw error;
          }
          try {
            await deps.kube.networking.deleteNamespacedNetworkPolicy({
              name: denyAllPolicyName(ctx.key),
              namespace: target.namespace,
            });
          } catch (error) {
            if (!isNotFound(error)) throw error;
          }
        });
        await deleteCapturedVolumes(ctx, deps, (await ctx.get<CaptureStatus>(STATUS_KEY)) ?? null);
        return true;
      },
    },
  });
}

export type CaptureWorkflow = ReturnType<typeof createCaptureWorkflow>;
