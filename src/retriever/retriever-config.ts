import type { WorkflowsConfig } from "../config/workflows-config.ts";

/**
 * The retriever's few settings, read without zod: in a pod limited to 128 MiB, zod's ~18 MiB of
 * RSS is a seventh of the budget. The names and meanings are workflows-config's PODMORTEM_S3_*
 * and PODMORTEM_EVIDENCE_DIR, which the workflows put in the retriever pod's spec.
 */
export type RetrieverConfig = {
  evidence: WorkflowsConfig["evidence"];
  /**
   * For an S3 endpoint signed by a private CA: PODMORTEM_S3_CA_PEM (the PEM itself, e.g. a key
   * of the retriever's S3 Secret, which reaches the pod as env) or PODMORTEM_S3_CA_FILE.
   */
  s3Ca: { pem: string } | { file: string } | undefined;
  terminationLog: string;
};

const BOOLEANS: Record<string, boolean> = {
  true: true,
  "1": true,
  yes: true,
  false: false,
  "0": false,
  no: false,
};

export function loadRetrieverConfig(env: Record<string, string | undefined>): RetrieverConfig {
  const problems: string[] = [];
  const forcePathStyle = BOOLEANS[env.PODMORTEM_S3_FORCE_PATH_STYLE ?? "false"];
  if (forcePathStyle === undefined)
    problems.push("PODMORTEM_S3_FORCE_PATH_STYLE: must be true or false");
  const endpoint = env.PODMORTEM_S3_ENDPOINT || undefined;
  if (endpoint !== undefined && !URL.canParse(endpoint))
    problems.push("PODMORTEM_S3_ENDPOINT: must be a URL");
  if (problems.length > 0) throw new Error(`retriever settings: ${problems.join("; ")}`);
  const bucket = env.PODMORTEM_S3_BUCKET || undefined;
  const prefix = env.PODMORTEM_S3_PREFIX || undefined;
  return {
    s3Ca: env.PODMORTEM_S3_CA_PEM
      ? { pem: env.PODMORTEM_S3_CA_PEM }
      : env.PODMORTEM_S3_CA_FILE
        ? { file: env.PODMORTEM_S3_CA_FILE }
        : undefined,
    terminationLog:
      env.PODMORTEM_TERMINATION_LOG || env.TERMINATION_MESSAGE_PATH || "/dev/termination-log",
    evidence: bucket
      ? {
          kind: "s3",
          bucket,
          prefix,
          endpoint,
          region: env.PODMORTEM_S3_REGION || undefined,
          forcePathStyle: forcePathStyle ?? false,
          kmsKeyId: env.PODMORTEM_S3_SSE_KMS_KEY_ID || undefined,
        }
      : { kind: "dir", dir: env.PODMORTEM_EVIDENCE_DIR || "./.data/evidence", prefix },
  };
}
