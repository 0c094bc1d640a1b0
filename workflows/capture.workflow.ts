import type { V1Pod } from "@kubernetes/client-node";
import * as restate from "@restatedev/restate-sdk";

import { EVIDENCE_FILES, evidenceFolder } from "../src/evidence/evidence-layout.ts";
import { denyAllPolicyName } from "../src/k8s/forensic-pod.ts";
import { isNotFound } from "../src/k8s/kube-errors.ts";
import {
  CAPTURE_ID_LABEL,
  MANAGED_BY_LABEL,
  MANAGED_BY_PODMORTEM,
  ROLE_LABEL,
} from "../src/k8s/podmortem-labels.ts";
import type { CaptureClaim } from "../src/model/capture-request.ts";
import type { PodEvent } from "../src/model/pod-event.ts";
import { CaptureLimits, type Admission } from "./capture-limits.object.ts";
import { CaptureSlot, captureSlotKey } from "./capture-slot.object.ts";
import type { ClusterObject } from "./cluster.object.ts";
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
import { confirmClaim } from "./steps/confirm-claim.ts";
import { salvageEvidence, sealCustody } from "./steps/evidence.ts";
import { exfiltrateCheckpoint } from "./steps/exfiltrate.ts";
import { onDemandSteps, openRequest } from "./steps/on-demand.ts";
import { createForensicCopy } from "./steps/forensic-pod.ts";
import { writeReport } from "./steps/report.ts";
import { restartCrashedPod, withholdRestart } from "./steps/restart.ts";
import { deleteCapturedVolumes, snapshotVolumes } from "./steps/snapshots.ts";
import { runStep, stepLabel } from "./steps/step-runner.ts";
import { readPodOrFail } from "./steps/read-pod.ts";

export {
  CAPTURE_PHASES,
  type CaptureDeps,
  type CaptureEvidence,
  type CapturePhase,
  type CaptureSettings,
  type CaptureStatus,
} from "./steps/capture-run.ts";

/** A crash (from Incident), or an on-demand request's pointer (from CaptureRequest). */
export type CaptureRequest = { event: PodEvent; incidentKey: string } | { onDemand: CaptureClaim };

const DEFAULT_SETTINGS: CaptureSettings = {
  retriever: { image: "podmortem:dev", namespace: "podmortem", s3Secret: undefined },
  evidence: { kind: "dir", dir: "./.data/evidence", prefix: undefined },
  kubeletInsecureTls: false,
};

export function createCaptureWorkflow(deps: CaptureDeps) {
  const settings = deps.settings ?? DEFAULT_SETTINGS;

  /**
   * The TTL ran out: delete the forensic pod and its network policy, then the snapshots and
   * claims made for it. It takes no target: what it deletes is what this capture's own state
   * names, and the pod only when its labels say it is this capture's forensic copy.
   */
  const removeForensicCopy = async (ctx: restate.WorkflowSharedContext) => {
    const status = (await ctx.get<CaptureStatus>(STATUS_KEY)) ?? null;
    const copy = status?.forensicPod;
    let detail = "this capture made no forensic copy";
    if (status && copy) {
      detail = await runStep(ctx, deps.metrics, "delete forensic pod", async () => {
        let labels: Record<string, string> | undefined;
        try {
          labels = (await deps.kube.core.readNamespacedPod(copy)).metadata?.labels;
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
        if (labels) {
          const ours =
            labels[CAPTURE_ID_LABEL] === ctx.key &&
            labels[ROLE_LABEL] === "forensic-copy" &&
            labels[MANAGED_BY_LABEL] === MANAGED_BY_PODMORTEM;
          if (!ours)
            return `left ${copy.namespace}/${copy.name} alone: its labels do not make it this capture's forensic copy`;
          try {
            await deps.kube.core.deleteNamespacedPod({ ...copy, gracePeriodSeconds: 0 });
          } catch (error) {
            if (!isNotFound(error)) throw error;
          }
        }
        try {
          await deps.kube.networking.deleteNamespacedNetworkPolicy({
            name: denyAllPolicyName(ctx.key),
            namespace: copy.namespace,
          });
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
        return labels ? `deleted ${copy.namespace}/${copy.name}` : "already gone";
      });
      ctx
        .objectSendClient(CaptureLimits, status.cluster)
        .release({ captureId: ctx.key, namespace: copy.namespace });
    }
    await deleteCapturedVolumes(ctx, deps, status);
    return { deleted: detail.startsWith("deleted"), detail };
  };

  return restate.workflow({
    name: "Capture",
    handlers: {
      /**
       * The forensic steps in order: evidence, snapshots, checkpoint and its exfiltration, the
       * custody seal, the forensic copy, the restart. A step that fails for good is recorded
       * and the steps that do not need its result still run.
       */
      // Only Incident starts a capture, after Ingest checked the claim, and CaptureRequest,
      // whose pointer is checked against the pod here before anything else.
      run: restate.handlers.workflow.workflow(
        { ingressPrivate: true },
        async (ctx: restate.WorkflowContext, request: CaptureRequest): Promise<CaptureStatus> => {
          const onDemand =
            "onDemand" in request
              ? await openRequest(ctx, deps, request.onDemand, settings.retriever.namespace)
              : undefined;
          const event = "onDemand" in request ? onDemand!.event : request.event;
          const startedAtMs = await ctx.date.now();
          const configured = await ctx
            .objectClient<ClusterObject>({ name: "Cluster" }, event.cluster)
            .captureSettings();
          // On request, the config's steps are the ceiling and `why` says what will not run.
          const { capture, why } = onDemand
            ? onDemandSteps(configured, onDemand.verdict.request)
            : { capture: configured, why: {} };
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
            trigger: onDemand?.trigger ?? { kind: "crash" },
          };
          const run = createCaptureRun({ ctx, deps, settings, event, capture, folder, status });
          run.save();

          // Counted once, inside a step: a replay of this handler does not count again.
          const finish = async (countSteps?: () => void): Promise<CaptureStatus> => {
            status.finishedAt = new Date(await ctx.date.now()).toISOString();
            run.save();
            await ctx.run("count capture", () => {
              deps.metrics.capturesCompleted.inc({ outcome: status.phase });
              countSteps?.();
            });
            announce(ctx, {
              kind: "capture.finished",
              captureId: run.captureId,
              event,
              outcome: status.phase === "running" ? "failed" : status.phase,
              summary: status,
            });
            return status;
          };
          let pod: V1Pod | undefined;
          if (onDemand) {
            if (onDemand.read) run.record(onDemand.read);
            const { verdict } = onDemand;
            status.claim = { kind: verdict.kind, detail: verdict.detail };
            run.record({
              name: "confirm request",
              outcome: verdict.kind === "confirmed" ? "ok" : "failed",
              detail: verdict.detail,
            });
            // The request is audited once it is found on the pod, granted or not; a pointer to
            // no request is audited by its refusal (capture.finished) alone.
            if (onDemand.trigger?.kind === "on-demand")
              announce(ctx, {
                kind: "capture.requested",
                captureId: run.captureId,
                event,
                trigger: onDemand.trigger,
                granted: verdict.kind === "confirmed",
                detail: verdict.detail,
              });
            if (verdict.kind !== "confirmed") {
              status.phase = "refused";
              return finish();
            }
            pod = onDemand.pod;
          }
          // podmortem never captures itself (the labels contract), nor its own namespace.
          else if (event.namespace === settings.retriever.namespace) {
            status.claim = {
              kind: "own",
              detail: `namespace ${event.namespace} is podmortem's own: never captured`,
            };
            run.record({ name: "confirm claim", outcome: "failed", detail: status.claim.detail });
            status.phase = "refused";
            return finish();
          } else {
            pod = await run.step(
              "read pod",
              (): Promise<V1Pod> => readPodOrFail(deps.kube, event.namespace, event.pod),
              (p) =>
                `${p.metadata?.namespace}/${p.metadata?.name} on ${p.spec?.nodeName ?? "no node"}`,
            );

            // Verify before act: only what the API server confirms gets an invasive step.
            const verdict = confirmClaim(
              pod,
              event,
              pod ? undefined : status.steps.find((step) => step.name === "read pod")?.detail,
            );
            status.claim = verdict;
            run.record({
              name: "confirm claim",
              outcome: verdict.kind === "confirmed" ? "ok" : "failed",
              detail: verdict.detail,
            });
            if (verdict.kind === "own" || verdict.kind === "contradicted") {
              status.phase = verdict.kind === "own" ? "refused" : "unconfirmed";
              return finish();
            }
          }
          const slot = await ctx
            .objectClient(CaptureSlot, captureSlotKey(event.cluster, event.podUID, event.container))
            .claim({ captureId: run.captureId, windowS: capture.rateLimitWindowS });
          if (!slot.granted) {
            run.record({
              name: "claim capture slot",
              outcome: "failed",
              detail: `container ${event.container} of pod ${event.namespace}/${event.pod} was captured by ${slot.heldBy} at ${slot.grantedAt}: one capture per pod container per window`,
            });
            status.phase = "refused";
            return finish();
          }
          // Announced once the claim holds: a flood of refused claims does not flood the audit log.
          announce(ctx, { kind: "capture.started", captureId: run.captureId, event });
          const confirmed = status.claim?.kind === "confirmed";
          const forensicNamespace = capture.forensicPod.namespace ?? event.namespace;
          const wantsObjects =
            capture.steps.snapshots ||
            capture.steps.checkpoint ||
            capture.steps.forensicPod ||
            capture.steps.restartAfterSalvage;
          let admission: Admission = {
            invasive: false,
            copy: false,
            detail: "the claim is unconfirmed: evidence only, nothing created",
          };
          if (confirmed && wantsObjects) {
            admission = await ctx.objectClient(CaptureLimits, event.cluster).admit({
              captureId: run.captureId,
              podUID: event.podUID,
              copyNamespace: capture.steps.forensicPod ? forensicNamespace : null,
              copyTtlS: capture.forensicPod.ttlS,
              limits: capture.limits,
            });
            status.limited = admission.detail;
          }
          const held = admission.detail ?? "";

          if (capture.steps.evidence) await salvageEvidence(run, pod);
          else run.skip("capture crash log", "evidence is off in the config");

          let restoredClaims: Record<string, string> = {};
          if (!capture.steps.snapshots)
            run.skip("create volume snapshots", why.snapshots ?? "snapshots are off in the config");
          else if (!admission.invasive) run.skip("create volume snapshots", held);
          else restoredClaims = await snapshotVolumes(run, pod, forensicNamespace);

          let checkpointBytes = 0;
          if (capture.steps.checkpoint && !admission.invasive) {
            run.skip("checkpoint container", held);
          } else if (capture.steps.checkpoint) {
            const checkpoint = await checkpointCrashedContainer(run, pod);
            if (checkpoint) checkpointBytes = await exfiltrateCheckpoint(run, checkpoint);
          } else {
            run.skip(
              "checkpoint container",
              why.checkpoint ??
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
                  trigger: status.trigger,
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
            run.skip(
              "create forensic pod",
              why.forensicPod ?? "the forensic pod is off in the config",
            );
          else if (!admission.copy) run.skip("create forensic pod", held);
          else if (run.needPod("create forensic pod", pod))
            copy = await createForensicCopy(run, pod, forensicNamespace, restoredClaims);
          if (admission.copy && !copy)
            ctx
              .objectSendClient(CaptureLimits, event.cluster)
              .release({ captureId: run.captureId, namespace: forensicNamespace });
          // The TTL removes the copy and the snapshots and claims made for it. No target in the
          // request: expire deletes what this capture's own state names.
          if (copy || status.createdVolumes) {
            ctx
              .workflowSendClient<CaptureWorkflow>({ name: "Capture" }, run.captureId)
              .removeCopyAtTtl(
                undefined,
                restate.rpc.sendOpts({ delay: { seconds: capture.forensicPod.ttlS } }),
              );
          }

          const restartWithheld = withholdRestart(status);
          if (!capture.steps.restartAfterSalvage)
            run.skip(
              "restart pod",
              why.restartAfterSalvage ?? "restart after salvage is off in the config",
            );
          else if (!admission.invasive) run.skip("restart pod", held);
          else if (restartWithheld) run.skip("restart pod", restartWithheld);
          else if (run.needPod("restart pod", pod)) await restartCrashedPod(run, pod);

          status.phase = confirmed ? phaseOf(status.steps) : "unconfirmed";
          return finish(() => {
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
        },
      ),

      status: async (ctx: restate.WorkflowSharedContext) =>
        (await ctx.get<CaptureStatus>(STATUS_KEY)) ?? null,

      // A delayed call named for what it does, so the Restate UI's in-flight list says so.
      removeCopyAtTtl: restate.handlers.workflow.shared(
        { ingressPrivate: true },
        (ctx: restate.WorkflowSharedContext, _noInput?: unknown) => removeForensicCopy(ctx),
      ),
      // The earlier name of removeCopyAtTtl, for removals an earlier version scheduled (they
      // still carry a target, which is ignored).
      expire: restate.handlers.workflow.shared(
        { ingressPrivate: true },
        (ctx: restate.WorkflowSharedContext, _ignored?: unknown) => removeForensicCopy(ctx),
      ),
    },
  });
}

export type CaptureWorkflow = ReturnType<typeof createCaptureWorkflow>;
