import { z } from "zod";

import { parseSecretsKey } from "../notifications/sealed-secret.ts";
import { envBoolean, envList, envPort, LOG_LEVELS, parseEnv, type Env } from "./env.ts";

const schema = z.looseObject({
  PODMORTEM_ENDPOINT_PORT: envPort.default(9080),
  PODMORTEM_HTTP_PORT: envPort.default(8080),
  PODMORTEM_LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  PODMORTEM_IDENTITY: z.string().default("podmortem-workflows"),
  PODMORTEM_RESTATE_IDENTITY_KEYS: envList.optional(),
  KUBECONFIG: z.string().optional(),
  PODMORTEM_S3_BUCKET: z.string().optional(),
  PODMORTEM_S3_PREFIX: z.string().optional(),
  PODMORTEM_S3_ENDPOINT: z.url().optional(),
  PODMORTEM_S3_REGION: z.string().optional(),
  PODMORTEM_S3_FORCE_PATH_STYLE: envBoolean.default(false),
  PODMORTEM_S3_SSE_KMS_KEY_ID: z.string().optional(),
  PODMORTEM_EVIDENCE_DIR: z.string().default("./.data/evidence"),
  POD_NAMESPACE: z.string().optional(),
  PODMORTEM_RETRIEVER_IMAGE: z.string().min(1).default("ghcr.io/podmortem/podmortem:latest"),
  PODMORTEM_RETRIEVER_NAMESPACE: z.string().optional(),
  PODMORTEM_RETRIEVER_S3_SECRET: z.string().optional(),
  PODMORTEM_KUBELET_INSECURE_TLS: envBoolean.default(false),
  PODMORTEM_SECRETS_KEY: z
    .string()
    .transform((text, ctx) => {
      try {
        return parseSecretsKey(text);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
});

export type WorkflowsConfig = {
  endpointPort: number;
  httpPort: number;
  logLevel: (typeof LOG_LEVELS)[number];
  identity: string;
  identityKeys: string[] | undefined;
  kubeconfigPath: string | undefined;
  retriever: {
    image: string;
    namespace: string;
    /** A Secret whose keys become the retriever's environment (AWS credentials, say). */
    s3Secret: string | undefined;
  };
  kubeletInsecureTls: boolean;
  /** Seals inline sink secrets before Restate stores them (docs/security.md). */
  secretsKey: Buffer | undefined;
  evidence:
    | {
        kind: "s3";
        bucket: string;
        prefix: string | undefined;
        endpoint: string | undefined;
        region: string | undefined;
        forcePathStyle: boolean;
        kmsKeyId: string | undefined;
      }
    | { kind: "dir"; dir: string; prefix: string | undefined };
};

export function loadWorkflowsConfig(env: Env): Readonly<WorkflowsConfig> {
  const raw = parseEnv(schema, env, "workflows");
  const config: WorkflowsConfig = {
    endpointPort: raw.PODMORTEM_ENDPOINT_PORT,
    httpPort: raw.PODMORTEM_HTTP_PORT,
    logLevel: raw.PODMORTEM_LOG_LEVEL,
    identity: raw.PODMORTEM_IDENTITY,
    identityKeys: raw.PODMORTEM_RESTATE_IDENTITY_KEYS,
    kubeconfigPath: raw.KUBECONFIG,
    retriever: {
      image: raw.PODMORTEM_RETRIEVER_IMAGE,
      namespace: raw.PODMORTEM_RETRIEVER_NAMESPACE ?? raw.POD_NAMESPACE ?? "podmortem",
      s3Secret: raw.PODMORTEM_RETRIEVER_S3_SECRET,
    },
    kubeletInsecureTls: raw.PODMORTEM_KUBELET_INSECURE_TLS,
    secretsKey: raw.PODMORTEM_SECRETS_KEY,
    evidence: raw.PODMORTEM_S3_BUCKET
      ? {
          kind: "s3",
          bucket: raw.PODMORTEM_S3_BUCKET,
          prefix: raw.PODMORTEM_S3_PREFIX,
          endpoint: raw.PODMORTEM_S3_ENDPOINT,
          region: raw.PODMORTEM_S3_REGION,
          forcePathStyle: raw.PODMORTEM_S3_FORCE_PATH_STYLE,
          kmsKeyId: raw.PODMORTEM_S3_SSE_KMS_KEY_ID,
        }
      : { kind: "dir", dir: raw.PODMORTEM_EVIDENCE_DIR, prefix: raw.PODMORTEM_S3_PREFIX },
  };
  return Object.freeze(config);
}
