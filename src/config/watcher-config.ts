import { z } from "zod";

import { envPort, LOG_LEVELS, parseEnv, type Env } from "./env.ts";

const schema = z.looseObject({
  PODMORTEM_CLUSTER_NAME: z
    .string({ error: "is required: the name this cluster is enrolled under" })
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a DNS label"),
  PODMORTEM_RESTATE_URL: z.url().default("http://localhost:8080"),
  PODMORTEM_RESTATE_AUTH_TOKEN: z.string().optional(),
  PODMORTEM_RESTATE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  PODMORTEM_HTTP_PORT: envPort.default(8080),
  PODMORTEM_LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  PODMORTEM_IDENTITY: z.string().default("podmortem-watcher"),
  PODMORTEM_CONFIG_POLL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(3_600_000)
    .default(15_000),
  KUBECONFIG: z.string().optional(),
});

export type WatcherProcessConfig = {
  clusterName: string;
  restate: { ingressUrl: string; authToken: string | undefined; requestTimeoutMs: number };
  httpPort: number;
  logLevel: (typeof LOG_LEVELS)[number];
  identity: string;
  configPollIntervalMs: number;
  kubeconfigPath: string | undefined;
};

export function loadWatcherConfig(env: Env): Readonly<WatcherProcessConfig> {
  const raw = parseEnv(schema, env, "watcher");
  const config: WatcherProcessConfig = {
    clusterName: raw.PODMORTEM_CLUSTER_NAME,
    restate: {
      ingressUrl: raw.PODMORTEM_RESTATE_URL,
      authToken: raw.PODMORTEM_RESTATE_AUTH_TOKEN,
      requestTimeoutMs: raw.PODMORTEM_RESTATE_TIMEOUT_MS,
    },
    httpPort: raw.PODMORTEM_HTTP_PORT,
    logLevel: raw.PODMORTEM_LOG_LEVEL,
    identity: raw.PODMORTEM_IDENTITY,
    configPollIntervalMs: raw.PODMORTEM_CONFIG_POLL_INTERVAL_MS,
    kubeconfigPath: raw.KUBECONFIG,
  };
  return Object.freeze(config);
}
