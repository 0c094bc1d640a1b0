import type { V1EnvVar, V1Pod } from "@kubernetes/client-node";
import path from "node:path";

import type { WorkflowsConfig } from "../../src/config/workflows-config.ts";
import { boundedName } from "../../src/k8s/names.ts";
import { podmortemLabels } from "../../src/k8s/podmortem-labels.ts";

export type RetrieverPodInput = {
  captureId: string;
  attempt?: number;
  node: string;
  archivePath: string;
  key: string;
  maxBytes: number;
  deleteFromNode: boolean;
  /** The last attempt removes the archive even when its upload fails. */
  lastAttempt?: boolean;
  retriever: WorkflowsConfig["retriever"];
  evidence: WorkflowsConfig["evidence"];
};

export const RETRIEVER_NODE_OPTIONS = "--max-old-space-size=32 --max-semi-space-size=1";
/** Fewer malloc arenas: the upload's short-lived buffers otherwise fragment RSS upwards. */
export const RETRIEVER_RUNTIME_ENV: V1EnvVar[] = [
  { name: "NODE_OPTIONS", value: RETRIEVER_NODE_OPTIONS },
  { name: "MALLOC_ARENA_MAX", value: "2" },
];

/** The retriever pod's own deadline (`activeDeadlineSeconds`); the workflow waits a little longer. */
export const RETRIEVER_DEADLINE_S = 1800;

/** Attempts after the first get their own pod, so a replay always finds the one it started. */
export function retrieverPodName(captureId: string, attempt = 1): string {
  return boundedName(`${captureId}-retriever${attempt > 1 ? `-${attempt}` : ""}`);
}

/** Where the retriever writes: the workflows' own evidence settings, never credentials. */
function evidenceEnv(evidence: WorkflowsConfig["evidence"]): V1EnvVar[] {
  if (evidence.kind === "dir")
    return [{ name: "PODMORTEM_EVIDENCE_DIR", value: path.resolve(evidence.dir) }];
  const env: V1EnvVar[] = [{ name: "PODMORTEM_S3_BUCKET", value: evidence.bucket }];
  if (evidence.endpoint) env.push({ name: "PODMORTEM_S3_ENDPOINT", value: evidence.endpoint });
  if (evidence.region) env.push({ name: "PODMORTEM_S3_REGION", value: evidence.region });
  if (evidence.forcePathStyle) env.push({ name: "PODMORTEM_S3_FORCE_PATH_STYLE", value: "true" });
  if (evidence.kmsKeyId)
    env.push({ name: "PODMORTEM_S3_SSE_KMS_KEY_ID", value: evidence.kmsKeyId });
  return env;
}

/**
 * A short-lived pod pinned to the node that holds the archive: the archive's folder mounted
 * (read-only unless it is to be removed), no service account token, bounded memory and time.
 * It runs as root because the kubelet writes checkpoints root-only (0600), with every
 * capability dropped.
 */
export function buildRetrieverPod(input: RetrieverPodInput): V1Pod {
  const folder = path.posix.dirname(input.archivePath);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: retrieverPodName(input.captureId, input.attempt),
      namespace: input.retriever.namespace,
      labels: podmortemLabels("retriever", input.captureId),
    },
    spec: {
      nodeName: input.node,
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      activeDeadlineSeconds: RETRIEVER_DEADLINE_S,
      tolerations: [{ operator: "Exists" }],
      containers: [
        {
          name: "retrieve",
          image: input.retriever.image,
          command: [
            "podmortem",
            "retrieve",
            "--file",
            input.archivePath,
            "--key",
            input.key,
            "--max-bytes",
            String(input.maxBytes),
            ...(input.deleteFromNode ? ["--delete"] : []),
            ...(input.deleteFromNode && input.lastAttempt ? ["--delete-on-failure"] : []),
          ],
          // A small, bounded heap: the archive goes through two reused 5 MiB part buffers.
          env: [...RETRIEVER_RUNTIME_ENV, ...evidenceEnv(input.evidence)],
          ...(input.retriever.s3Secret
            ? { envFrom: [{ secretRef: { name: input.retriever.s3Secret } }] }
            : {}),
          // Measured over TLS (capture-exfiltration bench, 2 GiB): peak RSS 104-111 MiB, most of
          // it there before the first byte (Node 41 MiB, type stripping 18, the AWS SDK ~30) and
          // 10 MiB the two part buffers. 128Mi left 13 % headroom; 160Mi keeps the peak <= 70 %.
          resources: {
            requests: { cpu: "100m", memory: "128Mi" },
            limits: { cpu: "1", memory: "160Mi" },
          },
          securityContext: {
            runAsUser: 0,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
          },
          // The result is JSON in the message file; a crash leaves its log's tail there instead.
          terminationMessagePolicy: "FallbackToLogsOnError",
          volumeMounts: [
            { name: "checkpoints", mountPath: folder, readOnly: !input.deleteFromNode },
          ],
        },
      ],
      volumes: [{ name: "checkpoints", hostPath: { path: folder, type: "Directory" } }],
    },
  };
}
