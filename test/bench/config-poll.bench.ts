import { loadWatcherConfig } from "../../src/config/watcher-config.ts";
import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { loadKubeConfig } from "../../src/k8s/client.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { startRestate } from "../harness/restate-server.ts";

// What the watcher's config polls leave in the Restate UI's invocation list: the watcher's own
// getConfig call (restate-link) against the real restate-server with the journal retention that
// `podmortem dev` uses (7 days), then the rows of sys_invocation — what the UI lists — per poll.
// Polls per minute are what the default interval and the chart's two replicas make of it.
const POLLS = Number(process.env.BENCH_CONFIG_POLLS ?? 40);
const REPLICAS = 2;

const restate = await startRestate({
  services: createServices({
    kube: createKubeAccess(loadKubeConfig()),
    store: createDirStore("/tmp/podmortem-bench-config-poll"),
    metrics: createWorkflowMetrics(),
    evidencePrefix: undefined,
    identity: "bench",
    version: "bench",
  }),
  extraEnv: { RESTATE_DEFAULT_JOURNAL_RETENTION: "7d" },
});
try {
  const link = createRestateLink({
    ingressUrl: restate.ingressUrl,
    requestTimeoutMs: 10_000,
    authToken: undefined,
  });
  let version: number | undefined;
  const started = performance.now();
  for (let i = 0; i < POLLS; i++) version = (await link.getConfig("bench", version)).version;
  const pollMs = (performance.now() - started) / POLLS;
  const [row] = await restate.query<{ n: number }>(
    "SELECT count(*) AS n FROM sys_invocation WHERE target_handler_name = 'getConfig'",
  );
  const intervalMs = loadWatcherConfig({
    PODMORTEM_CLUSTER_NAME: "bench",
    PODMORTEM_RESTATE_URL: restate.ingressUrl,
  }).configPollIntervalMs;
  const pollsPerMinute = (60_000 / intervalMs) * REPLICAS;
  const retainedPerPoll = (row?.n ?? 0) / POLLS;
  process.stdout.write(
    `${JSON.stringify({
      bench: "config-poll",
      includes: "watcher restate-link getConfig, real restate-server, journal retention 7d",
      polls: POLLS,
      pollMs: Math.round(pollMs * 10) / 10,
      uiRowsPerPoll: retainedPerPoll,
      defaultIntervalMs: intervalMs,
      pollsPerMinute,
      uiRowsPerMinute: pollsPerMinute * retainedPerPoll,
      uiRowsPerDay: pollsPerMinute * retainedPerPoll * 1440,
    })}\n`,
  );
} finally {
  await restate[Symbol.asyncDispose]();
}
