import type { V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import * as restate from "@restatedev/restate-sdk";

import type { WorkflowsConfig } from "../src/config/workflows-config.ts";
import type { CustodyArtifact } from "../src/evidence/custody.ts";
import { EVIDENCE_FILES, evidenceFolder } from "../src/evidence/evidence-layout.ts";
import type { EvidenceStore } from "../src/evidence/evidence-store.ts";
import { classifyS3Error } from "../src/evidence/s3-errors.ts";
import {
  FORENSIC_ANNOTATIONS,
  buildDenyAllPolicy,
  buildForensicPod,
  forensicPodName,
} from "../src/k8s/forensic-pod.ts";
import type { KubeAccess } from "../src/k8s/kube-access.ts";
import { classifyKubeError, isConflict, isNotFound } from "../src/k8s/kube-errors.ts";
import { checkpointContainer } from "../src/k8s/kubelet.ts";
import {
  createVolumeSnapshot,
  readSnapshotState,
  restoreClaim,
  snapshotName,
} from "../src/k8s/snapshots.ts";
import type { PodEvent } from "../src/model/pod-event.ts";
import type { RemoteConfig } from "../src/model/remote-config.ts";
import type { RetrieveResult } from "../src/retriever/retrieve.ts";
import { Cluster } from "./cluster.object.ts";
import type { WorkflowMetrics } from "./metrics.ts";
import { announce } from "./milestones.ts";
import { captureCrashLog, sealCustody } from "./steps/evidence.ts";
import {
  captureContainerLogs,
  captureJson,
  listPodEvents,
  readNodeFacts,
} from "./steps/pod-evidence.ts";
import { buildRetrieverPod, retrieverPodName } from "./steps/retriever-pod.ts";
import { failureMessage, runStep, StepFailure, type StepRecord } from "./steps/step-runner.ts";

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
  snapshots: string[];
  restoredClaims: string[];
  checkpoint: {
    node: string;
    archivePath: string;
    uri: string | null;
    sha256: string | null;
  } | null;
  forensicPod: { namespace: string; name: string } | null;
};

const STATUS_KEY = "status";
const SNAPSHOT_POLL_S = 5;
const RETRIEVER_POLL_S = 2;

function phaseOf(steps: readonly StepRecord[]): CapturePhase {
  const failed = steps.filter((step) => step.outcome === "failed").length;
  if (failed === 0) return "succeeded";
  return failed === steps.filter((step) => step.outcome !== "skipped").length
    ? "failed"
    : "partial";
}

/** S3 errors carry their status in `$metadata`; everything else is a Kubernetes call. */
function classifyStepError(error: unknown): "terminal" | "retryable" {
  if (typeof error === "object" && error !== null && "$metadata" in error)
    return classifyS3Error(error);
  return classifyKubeError(error);
}

function claimsOf(pod: V1Pod): string[] {
  return (pod.spec?.volumes ?? []).flatMap((volume) =>
    volume.persistentVolumeClaim?.claimName ? [volume.persistentVolumeClaim.claimName] : [],
  );
}

function isRunning(pod: V1Pod, container: string): boolean {
  return Boolean(
    pod.status?.containerStatuses?.find((status) => status.name === container)?.state?.running,
  );
}

export function createCaptureWorkflow(deps: CaptureDeps) {
  const settings: CaptureSettings = deps.settings ?? {
    retriever: { image: "podmortem:dev", namespace: "podmortem", s3Secret: undefined },
    evidence: { kind: "dir", dir: "./.data/evidence", prefix: undefined },
    kubeletInsecureTls: false,
  };

  return restate.workflow({
    name: "Capture",
    handlers: {
      run: async (
        ctx: restate.WorkflowContext,
        request: CaptureRequest,
      ): Promise<CaptureStatus> => {
        const { event } = request;
        const captureId = ctx.key;
        const startedAtMs = await ctx.date.now();
        const { config } = await ctx.objectClient(Cluster, event.cluster).captureConfig();
        const capture = config.capture;
        const folder = evidenceFolder({
          prefix: deps.evidencePrefix,
          cluster: event.cluster,
          namespace: event.namespace,
          pod: event.pod,
          capturedAtMs: startedAtMs,
        });
        const status: CaptureStatus = {
          captureId,
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
        ctx.set(STATUS_KEY, status);
        announce(ctx, { kind: "capture.started", captureId, event });

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
        const skip = (name: string, detail: string) => record({ name, outcome: "skipped", detail });
        /** Runs a step; a permanent failure is recorded and the capture goes on. */
        async function step<T>(
          name: string,
          action: () => Promise<T>,
          describe: (value: T) => string,
        ): Promise<T | undefined> {
          try {
            const value = await runStep(ctx, deps.metrics, name, action, {
              classify: classifyStepError,
            });
            record({ name, outcome: "ok", detail: describe(value) });
            return value;
          } catch (error) {
            if (!(error instanceof restate.TerminalError)) throw error;
            record({ name, outcome: "failed", detail: failureMessage(error) });
            return undefined;
          }
        }

        const pod = await step(
          "read pod",
          async () => {
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
        const artifacts: CustodyArtifact[] = [];
        const needPod = (name: string) => {
          if (!pod)
            record({
              name,
              outcome: "failed",
              detail: `pod ${event.namespace}/${event.pod} no longer exists`,
            });
          return pod;
        };

        if (capture.steps.evidence) {
          const crashLog = await step(
            "capture logs",
            async () => {
              const crash = await captureCrashLog(deps, {
                event,
                folder,
                logs: capture.logs,
                nowIso: () => new Date().toISOString(),
              });
              const others = pod
                ? await captureContainerLogs(deps, { pod, folder, logs: capture.logs })
                : [];
              const all = [...(crash ? [crash] : []), ...others];
              deps.metrics.bytesStored.inc(
                { kind: "log" },
                all.reduce((sum, a) => sum + a.size, 0),
              );
              return all;
            },
            (all) => `${all.length} logs, ${all.reduce((sum, a) => sum + a.size, 0)} bytes`,
          );
          artifacts.push(...(crashLog ?? []));
          if (needPod("capture pod manifest")) {
            const manifest = await step(
              "capture pod manifest",
              () =>
                captureJson(deps.store, EVIDENCE_FILES.pod, `${folder}${EVIDENCE_FILES.pod}`, pod),
              (a) => `${a.size} bytes`,
            );
            if (manifest) artifacts.push(manifest);
            const events = await step(
              "capture events",
              async () =>
                captureJson(
                  deps.store,
                  EVIDENCE_FILES.events,
                  `${folder}${EVIDENCE_FILES.events}`,
                  await listPodEvents(deps.kube, pod!),
                ),
              (a) => `${a.size} bytes`,
            );
            if (events) artifacts.push(events);
            const nodeName = pod!.spec?.nodeName;
            if (nodeName) {
              const node = await step(
                "capture node conditions",
                async () =>
                  captureJson(
                    deps.store,
                    EVIDENCE_FILES.node,
                    `${folder}${EVIDENCE_FILES.node}`,
                    await readNodeFacts(deps.kube, nodeName),
                  ),
                (a) => `${a.size} bytes`,
              );
              if (node) artifacts.push(node);
            } else skip("capture node conditions", "the pod was never scheduled");
          }
        } else skip("capture logs", "evidence is off in the config");

        const forensicNamespace = capture.forensicPod.namespace ?? event.namespace;
        const restored: Record<string, string> = {};
        if (capture.steps.snapshots) {
          await captureSnapshots(ctx, pod, capture, forensicNamespace, restored);
        } else skip("create volume snapshots", "snapshots are off in the config");

        if (capture.steps.checkpoint) {
          await captureCheckpoint(pod, capture, folder, artifacts);
        } else
          skip(
            "checkpoint container",
            "checkpoints are off in the config (they need the kubelet's ContainerCheckpoint gate)",
          );

        const custody = await step(
          "seal custody",
          () =>
            sealCustody(
              deps.store,
              {
                captureId,
                event,
                folder,
                capturedAt: status.startedAt,
                capturedBy: { tool: "podmortem", version: deps.version, identity: deps.identity },
                artifacts,
              },
              new Date().toISOString(),
            ),
          (c) => c.uri,
        );
        if (custody) {
          status.evidence = {
            folder,
            custodyUri: custody.uri,
            custodySha256: custody.sha256,
            logSha256: artifacts.find((a) => a.name === EVIDENCE_FILES.crashLog)?.sha256 ?? null,
            artifacts,
          };
          ctx.set(STATUS_KEY, status);
        }

        if (capture.steps.forensicPod) {
          if (needPod("create forensic pod"))
            await createForensicCopy(pod!, capture, forensicNamespace, restored);
        } else skip("create forensic pod", "the forensic pod is off in the config");

        if (capture.steps.restartAfterSalvage) {
          if (needPod("restart pod")) await restartPod(pod!);
        } else skip("restart pod", "restart after salvage is off in the config");

        status.phase = phaseOf(status.steps);
        status.finishedAt = new Date(await ctx.date.now()).toISOString();
        ctx.set(STATUS_KEY, status);
        announce(ctx, {
          kind: "capture.finished",
          captureId,
          event,
          outcome: status.phase === "running" ? "failed" : status.phase,
          summary: status,
        });
        await ctx.run("count capture", () => {
          deps.metrics.capturesCompleted.inc({ outcome: status.phase });
        });
        return status;

        async function captureSnapshots(
          context: restate.WorkflowContext,
          source: V1Pod | undefined,
          settingsFor: RemoteConfig["capture"],
          targetNamespace: string,
          restoredOut: Record<string, string>,
        ): Promise<void> {
          if (!source) return void needPod("create volume snapshots");
          const claims = claimsOf(source);
          if (claims.length === 0)
            return skip("create volume snapshots", "the pod mounts no persistent volume claims");
          const names = await step(
            "create volume snapshots",
            async () => {
              const made: string[] = [];
              for (const claim of claims) {
                const name = snapshotName(captureId, claim);
                await createVolumeSnapshot(deps.kube, {
                  namespace: event.namespace,
                  name,
                  claim,
                  className: settingsFor.snapshots.className,
                  captureId,
                });
                made.push(name);
              }
              return made;
            },
            (made) => made.join(", "),
          );
          if (!names) return;
          status.snapshots = names;
          const deadlineMs =
            (await context.date.now()) + settingsFor.snapshots.readyTimeoutS * 1000;
          let ready = false;
          for (let check = 1; !ready; check += 1) {
            const states = await runStep(context, deps.metrics, `check snapshots ${check}`, () =>
              Promise.all(names.map((name) => readSnapshotState(deps.kube, event.namespace, name))),
            ).catch((error: unknown) => {
              if (error instanceof restate.TerminalError) return undefined;
              throw error;
            });
            if (!states) break;
            const failed = states.find((state) => state.error);
            if (failed) {
              record({
                name: "wait for snapshots",
                outcome: "failed",
                detail: `${failed.name}: ${failed.error}`,
              });
              return;
            }
            ready = states.every((state) => state.readyToUse);
            if (ready) break;
            if ((await context.date.now()) >= deadlineMs) {
              record({
                name: "wait for snapshots",
                outcome: "failed",
                detail: `not ready to use after ${settingsFor.snapshots.readyTimeoutS} s`,
              });
              return;
            }
            await context.sleep({ seconds: SNAPSHOT_POLL_S });
          }
          if (!ready)
            return record({
              name: "wait for snapshots",
              outcome: "failed",
              detail: "could not read the snapshots",
            });
          record({
            name: "wait for snapshots",
            outcome: "ok",
            detail: `${names.length} ready to use`,
          });
          if (!settingsFor.snapshots.restoreAndMount)
            return skip("restore volumes", "restoreAndMount is off in the config");
          if (targetNamespace !== event.namespace) {
            return skip(
              "restore volumes",
              `snapshots cannot be restored across namespaces (${event.namespace} → ${targetNamespace})`,
            );
          }
          const restoredNames = await step(
            "restore volumes",
            async () => {
              const made: Record<string, string> = {};
              for (const claim of claims) {
                const source: V1PersistentVolumeClaim =
                  await deps.kube.core.readNamespacedPersistentVolumeClaim({
                    name: claim,
                    namespace: event.namespace,
                  });
                const name = `${snapshotName(captureId, claim)}-restored`.slice(0, 63);
                await restoreClaim(deps.kube, {
                  namespace: event.namespace,
                  name,
                  snapshot: snapshotName(captureId, claim),
                  source,
                  captureId,
                });
                made[claim] = name;
              }
              return made;
            },
            (made) => Object.values(made).join(", "),
          );
          if (restoredNames) {
            Object.assign(restoredOut, restoredNames);
            status.restoredClaims = Object.values(restoredNames);
          }
        }

        async function captureCheckpoint(
          source: V1Pod | undefined,
          settingsFor: RemoteConfig["capture"],
          evidenceFolderKey: string,
          out: CustodyArtifact[],
        ): Promise<void> {
          if (!source) return void needPod("checkpoint container");
          const node = source.spec?.nodeName;
          if (!node) return skip("checkpoint container", "the pod was never scheduled");
          if (!isRunning(source, event.container)) {
            return skip(
              "checkpoint container",
              `container ${event.container} was not running when the capture read the pod`,
            );
          }
          const checkpoint = await step(
            "checkpoint container",
            () =>
              checkpointContainer(deps.kube, {
                node,
                namespace: event.namespace,
                pod: event.pod,
                container: event.container,
                timeoutS: settingsFor.checkpoint.timeoutS,
                insecureSkipTlsVerify: settings.kubeletInsecureTls,
              }),
            (c) => `${c.node}:${c.archivePath}`,
          );
          if (!checkpoint) return;
          status.checkpoint = {
            node,
            archivePath: checkpoint.archivePath,
            uri: null,
            sha256: null,
          };
          const key = `${evidenceFolderKey}${EVIDENCE_FILES.checkpoint(event.container)}`;
          const retrieverPod = buildRetrieverPod({
            captureId,
            node,
            archivePath: checkpoint.archivePath,
            key,
            maxBytes: settingsFor.checkpoint.maxBytes,
            deleteFromNode: settingsFor.checkpoint.deleteFromNode,
            retriever: settings.retriever,
            evidence: settings.evidence,
          });
          const created = await step(
            "start retriever",
            async () => {
              try {
                await deps.kube.core.createNamespacedPod({
                  namespace: settings.retriever.namespace,
                  body: retrieverPod,
                });
              } catch (error) {
                if (!isConflict(error)) throw error;
              }
              return retrieverPod.metadata!.name!;
            },
            (name) => `${settings.retriever.namespace}/${name}`,
          );
          if (!created) return;
          let result: RetrieveResult | undefined;
          let failure: string | undefined;
          for (let check = 1; result === undefined && failure === undefined; check += 1) {
            const state = await runStep(ctx, deps.metrics, `check retriever ${check}`, async () => {
              const current = await deps.kube.core.readNamespacedPod({
                name: retrieverPodName(captureId),
                namespace: settings.retriever.namespace,
              });
              const terminated = current.status?.containerStatuses?.[0]?.state?.terminated;
              return {
                phase: current.status?.phase ?? "",
                message: terminated?.message ?? null,
                exitCode: terminated?.exitCode ?? null,
              };
            });
            if (state.message !== null) {
              try {
                result = JSON.parse(state.message) as RetrieveResult;
              } catch {
                failure = `the retriever exited ${state.exitCode}: ${state.message.slice(0, 300)}`;
              }
            } else if (state.phase === "Failed" || state.phase === "Succeeded") {
              failure = `the retriever ended ${state.phase} without a result`;
            } else if (check > 900) {
              failure = "the retriever did not finish within 30 minutes";
            } else {
              await ctx.sleep({ seconds: RETRIEVER_POLL_S });
            }
          }
          await step(
            "delete retriever",
            async () => {
              try {
                await deps.kube.core.deleteNamespacedPod({
                  name: retrieverPodName(captureId),
                  namespace: settings.retriever.namespace,
                  gracePeriodSeconds: 0,
                });
              } catch (error) {
                if (!isNotFound(error)) throw error;
              }
              return true;
            },
            () => "deleted",
          );
          if (result?.outcome === "stored") {
            await ctx.run("count exfiltrated bytes", () =>
              deps.metrics.bytesStored.inc({ kind: "checkpoint" }, result.size),
            );
            out.push({
              name: EVIDENCE_FILES.checkpoint(event.container),
              key: result.key,
              uri: result.uri,
              size: result.size,
              sha256: result.sha256,
              truncated: false,
              capturedAt: new Date(await ctx.date.now()).toISOString(),
            });
            status.checkpoint = {
              node,
              archivePath: checkpoint.archivePath,
              uri: result.uri,
              sha256: result.sha256,
            };
            record({
              name: "exfiltrate checkpoint",
              outcome: "ok",
              detail: `${result.size} bytes → ${result.uri}`,
            });
          } else {
            record({
              name: "exfiltrate checkpoint",
              outcome: "failed",
              detail: result?.outcome === "refused" ? result.reason : (failure ?? "no result"),
            });
          }
        }

        async function createForensicCopy(
          source: V1Pod,
          settingsFor: RemoteConfig["capture"],
          targetNamespace: string,
          restoredClaims: Record<string, string>,
        ): Promise<void> {
          const policy = await step(
            "create network policy",
            async () => {
              const body = buildDenyAllPolicy(captureId, targetNamespace);
              try {
                await deps.kube.networking.createNamespacedNetworkPolicy({
                  namespace: targetNamespace,
                  body,
                });
              } catch (error) {
                if (!isConflict(error)) throw error;
              }
              return body.metadata!.name!;
            },
            (name) => `${targetNamespace}/${name}`,
          );
          // Without the deny-all policy in place first, the copy could talk to production.
          if (!policy) return skip("create forensic pod", "no network policy isolates it");
          const expiresAt = new Date(
            (await ctx.date.now()) + settingsFor.forensicPod.ttlS * 1000,
          ).toISOString();
          const annotations: Record<string, string> = {
            [FORENSIC_ANNOTATIONS.signature]: event.signature,
            [FORENSIC_ANNOTATIONS.sourcePod]: `${event.namespace}/${event.pod}`,
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
            annotations[FORENSIC_ANNOTATIONS.checkpoint] =
              `${status.checkpoint.node}:${status.checkpoint.archivePath}${status.checkpoint.uri ? ` ${status.checkpoint.uri}` : ""}`;
          }
          const name = await step(
            "create forensic pod",
            async () => {
              const body = buildForensicPod({
                source,
                captureId,
                namespace: targetNamespace,
                ttlS: settingsFor.forensicPod.ttlS,
                annotations,
                restoredClaims,
              });
              try {
                await deps.kube.core.createNamespacedPod({ namespace: targetNamespace, body });
                deps.metrics.podsCreated.inc({ source_namespace: event.namespace });
              } catch (error) {
                if (!isConflict(error)) throw error;
              }
              return forensicPodName(captureId);
            },
            (podName) => `${targetNamespace}/${podName}, expires ${expiresAt}`,
          );
          if (!name) return;
          status.forensicPod = { namespace: targetNamespace, name };
          ctx.set(STATUS_KEY, status);
          ctx
            .workflowSendClient<CaptureWorkflow>({ name: "Capture" }, captureId)
            .expire(
              { namespace: targetNamespace, name },
              restate.rpc.sendOpts({ delay: { seconds: settingsFor.forensicPod.ttlS } }),
            );
        }

        async function restartPod(source: V1Pod): Promise<void> {
          const owner = source.metadata?.ownerReferences?.find((ref) => ref.controller);
          if (!owner)
            return skip("restart pod", "a bare pod has no controller to recreate it: left alone");
          await step(
            "restart pod",
            async () => {
              try {
                await deps.kube.core.deleteNamespacedPod({
                  name: event.pod,
                  namespace: event.namespace,
                  body: { preconditions: { uid: source.metadata?.uid } },
                });
              } catch (error) {
                if (!isNotFound(error) && !isConflict(error)) throw error;
              }
              return owner;
            },
            (ref) => `deleted; ${ref.kind}/${ref.name} recreates it`,
          );
        }
      },

      status: async (ctx: restate.WorkflowSharedContext) =>
        (await ctx.get<CaptureStatus>(STATUS_KEY)) ?? null,

      /** The forensic pod's TTL ran out: delete it and its network policy. */
      expire: async (
        ctx: restate.WorkflowSharedContext,
        target: { namespace: string; name: string },
      ) => {
        await ctx.run("delete forensic pod", async () => {
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
              name: `forensic-${ctx.key}-deny-all`.slice(0, 63),
              namespace: target.namespace,
            });
          } catch (error) {
            if (!isNotFound(error)) throw error;
          }
        });
        return true;
      },
    },
  });
}

export type CaptureWorkflow = ReturnType<typeof createCaptureWorkflow>;
