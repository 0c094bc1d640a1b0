import { z } from "zod";

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
});

export type WorkflowsConfig = {
  endpointPort: number;
  httpPort: number;
  logLevel: (typeof LOG_LEVELS)[number];
  identity: string;
  identityKeys: string[] | undefined;
  kubeconfigPath: string | undefined;
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
