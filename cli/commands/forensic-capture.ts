import {
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type KubeConfig,
  type V1Pod,
} from "@kubernetes/client-node";
import type { Ingress } from "@restatedev/restate-sdk-clients";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

import { PodmortemError } from "../../src/errors.ts";
import { kubeHttpFor } from "../../src/k8s/kube-http.ts";
import {
  CAPTURE_REQUEST_ANNOTATION,
  onDemandCaptureId,
  type CaptureClaim,
  type CaptureRequestAnnotation,
  type IdentitySource,
} from "../../src/model/capture-request.ts";
import type { CaptureRequestService } from "../../workflows/capture-request.service.ts";
import type { CaptureStatus, CaptureWorkflow } from "../../workflows/capture.workflow.ts";
import { EXIT, type ExitCode } from "../exit-codes.ts";

export type CaptureOptions = {
  namespace: string;
  name: string;
  container: string | undefined;
  checkpoint: boolean;
  copy: boolean;
  wait: boolean;
  timeoutMs: number;
  json: boolean;
  cluster: string;
  ingress: Ingress;
  ingressUrl: string;
};

const POLL_MS = 500;
const FIELD_MANAGER = "kubectl-forensic";

/** `90s`, `5m`, `1h` or plain seconds. */
export function parseTimeout(text: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!match)
    throw new PodmortemError(
      "INPUT_INVALID",
      `--timeout: "${text}" is not a duration like 90s, 5m or 1h`,
    );
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"]!;
  return Number(match[1]) * unit;
}

/**
 * Who the API server says the kubeconfig's credentials are (SelfSubjectReview: v1 from 1.28,
 * beta 1.27, alpha 1.26); older servers have none, and the kubeconfig's own names are recorded,
 * marked as such.
 */
async function whoAmI(kc: KubeConfig): Promise<{ name: string; source: IdentitySource }> {
  const http = kubeHttpFor(kc);
  for (const version of ["v1", "v1beta1", "v1alpha1"]) {
    try {
      const response = await http.request(
        `/apis/authentication.k8s.io/${version}/selfsubjectreviews`,
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            apiVersion: `authentication.k8s.io/${version}`,
            kind: "SelfSubjectReview",
          }),
          timeoutMs: 10_000,
        },
      );
      const text = await response.body.text();
      if (response.statusCode !== 201 && response.statusCode !== 200) continue;
      const name = (JSON.parse(text) as { status?: { userInfo?: { username?: unknown } } }).status
        ?.userInfo?.username;
      if (typeof name === "string" && name !== "") return { name, source: "SelfSubjectReview" };
    } catch {
      // Not reachable or not JSON: the kubeconfig's names are recorded instead.
    }
  }
  const user = kc.getCurrentUser()?.name ?? "unknown";
  return { name: `${user} (context ${kc.getCurrentContext()})`, source: "kubeconfig" };
}

/** The container to capture: -c, else the pod's default-container annotation, else the first. */
function containerFor(pod: V1Pod, asked: string | undefined, where: string): string {
  const names = [
    ...(pod.spec?.containers ?? []),
    ...(pod.spec?.initContainers ?? []),
    ...(pod.spec?.ephemeralContainers ?? []),
  ].map((c) => c.name);
  const chosen =
    asked ??
    pod.metadata?.annotations?.["kubectl.kubernetes.io/default-container"] ??
    pod.spec?.containers[0]?.name;
  if (!chosen || !names.includes(chosen))
    throw new PodmortemError(
      "INPUT_INVALID",
      `-c: pod ${where} has no container ${chosen ?? "(none)"}; it has ${names.join(", ") || "none"}`,
    );
  return chosen;
}

async function readPod(core: CoreV1Api, namespace: string, name: string): Promise<V1Pod> {
  try {
    return await core.readNamespacedPod({ name, namespace });
  } catch (error) {
    if ((error as { code?: number }).code !== 404) throw error;
    throw new PodmortemError("INPUT_INVALID", `no pod ${name} in namespace ${namespace}`);
  }
}

async function writeRequest(
  core: CoreV1Api,
  pod: V1Pod,
  request: CaptureRequestAnnotation,
  where: string,
): Promise<void> {
  try {
    // The UID in the patch is a precondition: a pod replaced since it was read is not asked.
    await core.patchNamespacedPod(
      {
        name: pod.metadata!.name!,
        namespace: pod.metadata!.namespace!,
        fieldManager: FIELD_MANAGER,
        body: {
          metadata: {
            uid: pod.metadata!.uid,
            annotations: { [CAPTURE_REQUEST_ANNOTATION]: JSON.stringify(request) },
          },
        },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code === 403)
      throw new PodmortemError(
        "INPUT_INVALID",
        `you may not patch pod ${where}: an on-demand capture is asked for on the pod itself, which needs patch on pods in ${pod.metadata!.namespace!}`,
      );
    if (code === 404 || code === 409)
      throw new PodmortemError(
        "INPUT_INVALID",
        `pod ${where} was deleted or replaced while the request was written`,
      );
    throw error;
  }
}

function outcomeExit(phase: CaptureStatus["phase"]): ExitCode {
  if (phase === "succeeded") return EXIT.ok;
  if (phase === "refused" || phase === "unconfirmed") return EXIT.refused;
  return EXIT.failure;
}

function printStatus(status: CaptureStatus, json: boolean, extra: Record<string, unknown>): void {
  const checkpoint = status.checkpoint?.uri ?? null;
  const copy = status.forensicPod
    ? `${status.forensicPod.namespace}/${status.forensicPod.name}`
    : null;
  if (json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          ...extra,
          captureId: status.captureId,
          phase: status.phase,
          evidence: status.evidence?.custodyUri ?? null,
          checkpoint,
          forensicPod: copy,
          headline: status.headline ?? null,
          claim: status.claim ?? null,
          steps: status.steps,
        },
        null,
        2,
      )}\n`,
    );
    return;
  }
  const failed = status.steps.filter((s) => s.outcome === "failed");
  // Refused at the check (the claim), or after it (the capture slot): say which, once.
  const refusal =
    status.phase !== "refused"
      ? undefined
      : status.claim && status.claim.kind !== "confirmed"
        ? status.claim.detail
        : (failed.at(-1)?.detail ?? "no reason recorded");
  const lines = [
    `capture ${status.captureId}: ${status.phase}`,
    ...(refusal ? [`refused: ${refusal}`] : []),
    ...(status.headline ? [`report: ${status.headline}`] : []),
    `evidence: ${status.evidence?.custodyUri ?? "none"}`,
    ...(checkpoint ? [`checkpoint: ${checkpoint}`] : []),
    `forensic copy: ${copy ?? "none"}`,
    ...(refusal ? [] : failed.map((s) => `failed step ${s.name}: ${s.detail}`)),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

/**
 * `kubectl forensic capture POD`: writes the request on the pod (the API server decides whether
 * this user may), hands Restate a pointer to it, and follows the capture's status to its end.
 */
export async function captureLivePod(
  kc: KubeConfig,
  core: CoreV1Api,
  options: CaptureOptions,
): Promise<ExitCode> {
  const where = `${options.namespace}/${options.name}`;
  const pod = await readPod(core, options.namespace, options.name);
  const container = containerFor(pod, options.container, where);
  const who = await whoAmI(kc);
  const request: CaptureRequestAnnotation = {
    id: randomBytes(16).toString("hex"),
    container,
    checkpoint: options.checkpoint,
    copy: options.copy,
    requestedBy: who.name,
    identitySource: who.source,
    requestedAt: new Date().toISOString(),
  };
  await writeRequest(core, pod, request, where);
  const claim: CaptureClaim = {
    cluster: options.cluster,
    namespace: options.namespace,
    pod: options.name,
    podUID: pod.metadata!.uid!,
    requestId: request.id,
  };
  const expectedId = onDemandCaptureId(claim);
  let captureId: string;
  try {
    ({ captureId } = await options.ingress
      .serviceClient<CaptureRequestService>({ name: "CaptureRequest" })
      .submit(claim));
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new PodmortemError(
      "RESTATE_UNAVAILABLE",
      `request ${request.id} is written on pod ${where}, but Restate at ${options.ingressUrl} did not take it (${reason}): point --restate-url or $PODMORTEM_RESTATE_URL at Restate's ingress (kubectl port-forward will do) and run the command again`,
    );
  }
  if (captureId !== expectedId)
    throw new PodmortemError(
      "VERIFICATION_FAILED",
      `Restate answered capture ${captureId}, not ${expectedId}: not podmortem's CaptureRequest`,
    );
  const asked = { requestId: request.id, requestedBy: who.name, identitySource: who.source };
  if (!options.wait) {
    if (options.json)
      process.stdout.write(`${JSON.stringify({ ...asked, captureId, phase: "requested" })}\n`);
    else
      process.stdout.write(
        `capture ${captureId} requested by ${who.name} (identity from ${who.source}), request ${request.id}\n`,
      );
    return EXIT.ok;
  }
  if (!options.json)
    process.stderr.write(
      `capture ${captureId} requested by ${who.name} (identity from ${who.source}); waiting for it to finish\n`,
    );
  const workflow = options.ingress.workflowClient<CaptureWorkflow>({ name: "Capture" }, captureId);
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    let status: CaptureStatus | null;
    try {
      status = await workflow.status();
    } catch (error) {
      throw new PodmortemError(
        "RESTATE_UNAVAILABLE",
        `Restate at ${options.ingressUrl} did not answer capture ${captureId}'s status (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`,
      );
    }
    if (status && status.phase !== "running" && status.finishedAt !== null) {
      printStatus(status, options.json, asked);
      return outcomeExit(status.phase);
    }
    if (Date.now() >= deadline) {
      process.stderr.write(
        `kubectl forensic capture: capture ${captureId} is still running after --timeout; podmortem show ${captureId} follows it\n`,
      );
      return EXIT.failure;
    }
    await sleep(POLL_MS);
  }
}
