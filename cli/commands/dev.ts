import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { loadWatcherConfig } from "../../src/config/watcher-config.ts";
import { loadWorkflowsConfig } from "../../src/config/workflows-config.ts";
import { PodmortemError } from "../../src/errors.ts";
import { createLogger } from "../../src/logging.ts";
import { queryRestate, registerDeployment } from "../../src/restate/admin.ts";
import { runWatcher } from "../../watcher/main.ts";
import { runWorkflows } from "../../workflows/main.ts";
import { startRestateProcess } from "../dev/restate-process.ts";
import { EXIT } from "../exit-codes.ts";
import type { Command } from "../main.ts";

const PORTS = { ingress: 8080, admin: 9070, endpoint: 9080, workflowsOps: 9091, watcherOps: 9092 };
const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");

function findKubeconfig(flag: string | undefined): string {
  const candidate = flag ?? process.env.KUBECONFIG ?? path.join(os.homedir(), ".kube", "config");
  if (!existsSync(candidate)) {
    throw new PodmortemError(
      "PREREQUISITE_MISSING",
      `no kubeconfig at ${candidate}: pass --kubeconfig PATH, set KUBECONFIG, or run "npm start -- --demo" for a local demo cluster`,
    );
  }
  return candidate;
}

type Teardown = () => Promise<void>;

export const devCommand: Command = {
  summary:
    "Run podmortem on this machine: restate-server, the workflows endpoint and the watcher, evidence in a local folder.",
  usage: [
    "podmortem dev [--demo] [--kubeconfig PATH] [--cluster NAME] [--data-dir DIR] [--verbose]",
    "  --demo        start a local Kubernetes control plane with a fake kubelet and crashing pods",
    "                (needs KUBEBUILDER_ASSETS, see README)",
    "  --kubeconfig  the cluster to watch (default: $KUBECONFIG, then ~/.kube/config)",
    "  --cluster     the name the cluster is enrolled under (default: dev)",
    "  --data-dir    where Restate's data and the evidence go (default: .data)",
  ].join("\n"),
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        demo: { type: "boolean", default: false },
        kubeconfig: { type: "string" },
        cluster: { type: "string", default: "dev" },
        "data-dir": { type: "string", default: path.join(REPO_ROOT, ".data") },
        verbose: { type: "boolean", default: false },
      },
    });
    const dataDir = path.resolve(values["data-dir"]);
    // The Restate SDK logs every invocation at info; the Restate UI shows them better.
    process.env.RESTATE_LOGGING ??= values.verbose ? "INFO" : "WARN";
    const log = createLogger({ name: "podmortem-dev", level: values.verbose ? "info" : "warn" });
    const teardown: Teardown[] = [];
    const stopAll = async () => {
      for (const stop of teardown.reverse()) await stop().catch(() => undefined);
    };

    try {
      let kubeconfigPath: string;
      if (values.demo) {
        const { startDemoCluster } = await import("../dev/demo-cluster.ts").catch(
          (error: unknown) => {
            if ((error as { code?: string }).code !== "ERR_MODULE_NOT_FOUND") throw error;
            // The image ships the product only; the simulated cluster (sim/) is in the repository.
            throw new PodmortemError(
              "PREREQUISITE_MISSING",
              "the demo cluster (sim/) is not part of this installation: run the demo from a clone of the repository",
              { cause: error },
            );
          },
        );
        const demo = await startDemoCluster(path.join(dataDir, "demo-cluster"));
        teardown.push(demo.stop);
        kubeconfigPath = demo.kubeconfigPath;
        say(`demo cluster up: API server ${demo.server}, kubeconfig ${kubeconfigPath}`);
      } else {
        kubeconfigPath = findKubeconfig(values.kubeconfig);
      }

      const restate = await startRestateProcess({
        configFile: path.join(REPO_ROOT, "restate.toml"),
        dataDir: path.join(dataDir, "restate"),
        adminPort: PORTS.admin,
        ingressPort: PORTS.ingress,
      });
      teardown.push(restate.stop);

      const workflows = await runWorkflows(
        loadWorkflowsConfig({
          ...process.env,
          KUBECONFIG: kubeconfigPath,
          PODMORTEM_ENDPOINT_PORT: String(PORTS.endpoint),
          PODMORTEM_HTTP_PORT: String(PORTS.workflowsOps),
          PODMORTEM_EVIDENCE_DIR:
            process.env.PODMORTEM_EVIDENCE_DIR ?? path.join(dataDir, "evidence"),
        }),
        log,
      );
      teardown.push(workflows.stop);
      // The one place that forces: the demo's endpoint keeps one URL across code edits, and a
      // development restart may replace the code under its own in-flight captures.
      await registerDeployment(
        { adminUrl: restate.adminUrl },
        `http://127.0.0.1:${PORTS.endpoint}`,
        { force: true },
      );

      const watcher = await runWatcher(
        loadWatcherConfig({
          ...process.env,
          KUBECONFIG: kubeconfigPath,
          PODMORTEM_CLUSTER_NAME: values.cluster,
          PODMORTEM_RESTATE_URL: restate.ingressUrl,
          PODMORTEM_HTTP_PORT: String(PORTS.watcherOps),
          PODMORTEM_CONFIG_POLL_INTERVAL_MS: "5000",
          PODMORTEM_LEADER_ELECTION: "false",
        }),
        log,
      );
      teardown.push(watcher.stop);

      say(
        [
          "",
          "podmortem is running:",
          `  Restate UI        http://localhost:${PORTS.admin}/ui   (Capture workflows and their steps)`,
          `  Restate ingress   ${restate.ingressUrl}`,
          `  evidence          ${process.env.PODMORTEM_EVIDENCE_DIR ?? path.join(dataDir, "evidence")}`,
          `  metrics           http://localhost:${PORTS.workflowsOps}/metrics (workflows), http://localhost:${PORTS.watcherOps}/metrics (watcher)`,
          "Press Ctrl-C to stop.",
          "",
        ].join("\n"),
      );

      const reported = new Set<string>();
      const poll = setInterval(() => {
        void reportCaptures(restate.adminUrl, reported);
      }, 2000);
      teardown.push(async () => clearInterval(poll));

      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
      say("stopping…");
      await stopAll();
      return EXIT.ok;
    } catch (error) {
      await stopAll();
      throw error;
    }
  },
};

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function reportCaptures(adminUrl: string, reported: Set<string>): Promise<void> {
  try {
    const rows = await queryRestate<{ service_key: string; value_utf8: string }>(
      { adminUrl },
      "SELECT service_key, value_utf8 FROM state WHERE service_name = 'Capture' AND key = 'status'",
    );
    for (const row of rows) {
      const status = JSON.parse(row.value_utf8) as {
        phase: string;
        namespace: string;
        pod: string;
        container: string;
        evidence: { custodyUri: string } | null;
      };
      if (status.phase === "running" || reported.has(row.service_key)) continue;
      reported.add(row.service_key);
      say(
        `capture ${row.service_key} ${status.phase}: ${status.namespace}/${status.pod} (${status.container}) → ${status.evidence?.custodyUri ?? "no evidence"}`,
      );
    }
  } catch {
    // Restate may be restarting; the next poll reports what this one missed.
  }
}
