import { createEvidenceStore } from "../src/evidence/create-store.ts";
import { loadWorkflowsConfig, type WorkflowsConfig } from "../src/config/workflows-config.ts";
import { startOpsServer } from "../src/http/ops-server.ts";
import { loadKubeConfig } from "../src/k8s/client.ts";
import { createKubeAccess } from "../src/k8s/kube-access.ts";
import { createLogger, type Logger } from "../src/logging.ts";
import { PODMORTEM_VERSION } from "../src/version.ts";
import { serveEndpoint } from "./endpoint.ts";
import { createWorkflowMetrics } from "./metrics.ts";
import { createServices } from "./services.ts";

export type RunningWorkflows = { endpointPort: number; opsPort: number; stop(): Promise<void> };

export async function runWorkflows(
  config: Readonly<WorkflowsConfig>,
  root: Logger,
): Promise<RunningWorkflows> {
  const log = root.child({ component: "workflows" });
  const metrics = createWorkflowMetrics();
  const store = createEvidenceStore(config.evidence);
  const kube = createKubeAccess(loadKubeConfig({ kubeconfigPath: config.kubeconfigPath }));
  const services = createServices({
    kube,
    store,
    metrics,
    evidencePrefix: config.evidence.prefix,
    identity: config.identity,
    version: PODMORTEM_VERSION,
    secretsKey: config.secretsKey,
    settings: {
      retriever: config.retriever,
      evidence: config.evidence,
      kubeletInsecureTls: config.kubeletInsecureTls,
    },
  });
  const endpoint = await serveEndpoint(services, {
    port: config.endpointPort,
    identityKeys: config.identityKeys,
  });
  const ops = await startOpsServer({
    port: config.httpPort,
    registry: metrics.registry,
    notReadyReason: () => undefined,
  });
  log.info(
    { endpointPort: endpoint.port, opsPort: ops.port, evidence: store.describe() },
    "workflows endpoint serving",
  );
  return {
    endpointPort: endpoint.port,
    opsPort: ops.port,
    async stop() {
      await endpoint.close();
      await ops.close();
    },
  };
}

export async function main(env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadWorkflowsConfig(env);
  const log = createLogger({ name: "podmortem-workflows", level: config.logLevel });
  const running = await runWorkflows(config, log);
  const shutdown = (signal: string) => {
    log.info({ signal }, "shutting down");
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
}
