import path from "node:path";

import { REPO_ROOT } from "./cli.ts";
import type { KubeCluster } from "./kube-cluster.ts";
import { freePort } from "./ports.ts";
import { startProcess, type ManagedProcess } from "./processes.ts";

export type WatcherProcess = { process: ManagedProcess; port: number; identity: string };

/**
 * `podmortem watcher` as its own process on the project's Node 24, as the chart runs it: killed
 * with a real signal, its metrics and probes on a free port, its log in the cluster's temp dir.
 * `env` holds the settings that differ between tests (leader election, poll interval, log level).
 */
export async function startWatcherProcess(options: {
  cluster: KubeCluster;
  ingressUrl: string;
  clusterName: string;
  identity: string;
  env: Record<string, string>;
}): Promise<WatcherProcess> {
  const port = await freePort();
  const process_ = startProcess(
    path.join(REPO_ROOT, "node_modules", ".bin", "node"),
    [path.join(REPO_ROOT, "bin", "podmortem.js"), "watcher"],
    {
      logFile: path.join(options.cluster.tempDir, `${options.identity}.log`),
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: options.cluster.kubeconfigPath,
        PODMORTEM_CLUSTER_NAME: options.clusterName,
        PODMORTEM_RESTATE_URL: options.ingressUrl,
        PODMORTEM_HTTP_PORT: String(port),
        PODMORTEM_IDENTITY: options.identity,
        ...options.env,
      },
    },
  );
  return { process: process_, port, identity: options.identity };
}
