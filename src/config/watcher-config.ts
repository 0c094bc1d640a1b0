import os from "node:os";
import { z } from "zod";

import { PodmortemError } from "../errors.ts";
import { envBoolean, envPort, LOG_LEVELS, parseEnv, type Env } from "./env.ts";

const schema = z.looseObject({
  PODMORTEM_CLUSTER_NAME: z
    .string({ error: "is required: the name this cluster is enrolled under" })
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a DNS label"),
  PODMORTEM_RESTATE_URL: z.url().default("http://localhost:8080"),
  PODMORTEM_RESTATE_AUTH_TOKEN: z.string().optional(),
  PODMORTEM_RESTATE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  PODMORTEM_HTTP_PORT: envPort.default(8080),
  PODMORTEM_LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  PODMORTEM_IDENTITY: z.string().optional(),
  POD_NAME: z.string().optional(),
  POD_NAMESPACE: z.string().optional(),
  PODMORTEM_LEADER_ELECTION: envBoolean.default(true),
  PODMORTEM_LEASE_NAMESPACE: z.string().optional(),
  PODMORTEM_LEASE_NAME: z.string().default("podmortem-watcher"),
  PODMORTEM_LEASE_DURATION_S: z.coerce.number().int().min(2).max(600).default(15),
  PODMORTEM_RENEW_DEADLINE_S: z.coerce.number().int().min(1).max(600).default(10),
  PODMORTEM_RETRY_PERIOD_S: z.coerce.number().min(0.1).max(60).default(2),
  PODMORTEM_AUDIT_LOG: z.string().default("stdout"),
  PODMORTEM_CONFIG_POLL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(3_600_000)
    .default(15_000),
  // How long an owner (ReplicaSet, Deployment, Job, …) and its opt-out annotation are cached:
  // an annotation added to a Deployment applies to its pods' crashes within this time.
  PODMORTEM_OWNER_CACHE_TTL_S: z.coerce.number().int().min(0).max(86_400).default(60),
  KUBECONFIG: z.string().optional(),
});

export type WatcherProcessConfig = {
  clusterName: string;
  restate: { ingressUrl: string; authToken: string | undefined; requestTimeoutMs: number };
  httpPort: number;
  logLevel: (typeof LOG_LEVELS)[number];
  identity: string;
  leaderElection:
    | {
        namespace: string;
        name: string;
        identity: string;
        leaseDurationS: number;
        renewDeadlineS: number;
        retryPeriodS: number;
      }
    | undefined;
  /** "stdout", or a file the audit lines are appended to. */
  auditLog: string;
  configPollIntervalMs: number;
  /** How long owners and their opt-out annotation are cached; 0 reads them at every crash. */
  ownerCacheTtlS: number;
  kubeconfigPath: string | undefined;
  /** Where podmortem runs: its pods are never captured. */
  ownNamespace: string | undefined;
};

export function loadWatcherConfig(env: Env): Readonly<WatcherProcessConfig> {
  const raw = parseEnv(schema, env, "watcher");
  const identity = raw.PODMORTEM_IDENTITY ?? raw.POD_NAME ?? `${os.hostname()}-${process.pid}`;
  if (raw.PODMORTEM_RENEW_DEADLINE_S >= raw.PODMORTEM_LEASE_DURATION_S) {
    throw new PodmortemError(
      "CONFIG_INVALID",
      "invalid watcher configuration: PODMORTEM_RENEW_DEADLINE_S must be shorter than PODMORTEM_LEASE_DURATION_S",
    );
  }
  const config: WatcherProcessConfig = {
    clusterName: raw.PODMORTEM_CLUSTER_NAME,
    restate: {
      ingressUrl: raw.PODMORTEM_RESTATE_URL,
      authToken: raw.PODMORTEM_RESTATE_AUTH_TOKEN,
      requestTimeoutMs: raw.PODMORTEM_RESTATE_TIMEOUT_MS,
    },
    httpPort: raw.PODMORTEM_HTTP_PORT,
    logLevel: raw.PODMORTEM_LOG_LEVEL,
    identity,
    leaderElection: raw.PODMORTEM_LEADER_ELECTION
      ? {
          namespace: raw.PODMORTEM_LEASE_NAMESPACE ?? raw.POD_NAMESPACE ?? "podmortem",
          name: raw.PODMORTEM_LEASE_NAME,
          identity,
          leaseDurationS: raw.PODMORTEM_LEASE_DURATION_S,
          renewDeadlineS: raw.PODMORTEM_RENEW_DEADLINE_S,
          retryPeriodS: raw.PODMORTEM_RETRY_PERIOD_S,
        }
      : undefined,
    auditLog: raw.PODMORTEM_AUDIT_LOG,
    configPollIntervalMs: raw.PODMORTEM_CONFIG_POLL_INTERVAL_MS,
    ownerCacheTtlS: raw.PODMORTEM_OWNER_CACHE_TTL_S,
    kubeconfigPath: raw.KUBECONFIG,
    ownNamespace: raw.POD_NAMESPACE,
  };
  return Object.freeze(config);
}
