import { CoreV1Api, VersionApi } from "@kubernetes/client-node";

import { loadWatcherConfig, type WatcherProcessConfig } from "../src/config/watcher-config.ts";
import { startOpsServer } from "../src/http/ops-server.ts";
import { loadKubeConfig } from "../src/k8s/client.ts";
import { kubeHttpFor } from "../src/k8s/kube-http.ts";
import { createLogger, type Logger } from "../src/logging.ts";
import { pino } from "pino";
import { PODMORTEM_VERSION } from "../src/version.ts";
import { createWatcherMetrics } from "./metrics.ts";
import { createRestateLink } from "./restate-link.ts";
import { createWatcher } from "./watcher.ts";

export type RunningWatcher = { opsPort: number; stop(): Promise<void> };

export async function runWatcher(
  config: Readonly<WatcherProcessConfig>,
  root: Logger,
): Promise<RunningWatcher> {
  const kc = loadKubeConfig({ kubeconfigPath: config.kubeconfigPath });
  const metrics = createWatcherMetrics();
  const auditLog =
    config.auditLog === "stdout"
      ? root
      : createLogger(
          { name: "podmortem-audit", level: "info" },
          pino.destination({ dest: config.auditLog, append: true, mkdir: true, sync: false }),
        );
  const watcher = createWatcher({
    kc,
    link: createRestateLink(config.restate),
    log: root,
    auditLog,
    leaderElection: config.leaderElection,
    metrics,
    clusterName: config.clusterName,
    identity: config.identity,
    configPollIntervalMs: config.configPollIntervalMs,
    ownerCacheTtlS: config.ownerCacheTtlS,
    ownNamespace: config.ownNamespace,
  });
  metrics.reportReadiness(() => watcher.isReady());
  const ops = await startOpsServer({
    port: config.httpPort,
    registry: metrics.registry,
    notReadyReason: () => (watcher.isReady() ? undefined : "pod watch is not running"),
  });
  const http = kubeHttpFor(kc);
  const kubeSystem = await http.apiClient(CoreV1Api).readNamespace({ name: "kube-system" });
  const version = await http.apiClient(VersionApi).getCode();
  await watcher.start({
    clusterUID: kubeSystem.metadata?.uid ?? "unknown",
    kubernetesVersion: version.gitVersion,
    watcherVersion: PODMORTEM_VERSION,
  });
  return {
    opsPort: ops.port,
    async stop() {
      await watcher.stop();
      await ops.close();
      await http.close();
    },
  };
}

export async function main(env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadWatcherConfig(env);
  const log = createLogger({ name: "podmortem-watcher", level: config.logLevel });
  const running = await runWatcher(config, log);
  const shutdown = (signal: string) => {
    log.info({ signal }, "shutting down: flushing queued events");
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
}
