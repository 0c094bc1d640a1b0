import { createWriteStream, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { format, parseArgs } from "node:util";

import { loadWatcherConfig } from "../../src/config/watcher-config.ts";
import { loadWorkflowsConfig } from "../../src/config/workflows-config.ts";
import { PodmortemError } from "../../src/errors.ts";
import { createLogger } from "../../src/logging.ts";
import { queryRestate, registerDeployment } from "../../src/restate/admin.ts";
import { runWatcher } from "../../watcher/main.ts";
import { runWorkflows } from "../../workflows/main.ts";
import { startRestateProcess } from "../dev/restate-process.ts";
import { devSecretsKey } from "../dev/secrets-key.ts";
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
    "                (etcd and kube-apiserver from KUBEBUILDER_ASSETS: README, Quick start)",
    "  --kubeconfig  the cluster to watch (default: $KUBECONFIG, then ~/.kube/config)",
    "  --cluster     the name the cluster is enrolled under (default: dev)",
    "  --data-dir    the demo cluster, Restate's data and the evidence, kept across starts (default: .data)",
    "  --verbose     the Restate SDK's own log lines too",
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
    // The Restate SDK logs every invocation at info; the Restate UI shows them better. The SDK
    // reads RESTATE_LOGGING once, when it is first imported, so bin/podmortem.js sets it for
    // `dev` (ERROR, or INFO with --verbose) before it imports anything.
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
        say(
          [
            `demo cluster up: API server ${demo.server}` +
              (demo.controllerManager ? "" : " (no kube-controller-manager: bare pods)"),
            "to use it with kubectl:",
            `  export KUBECONFIG=${kubeconfigPath}`,
          ].join("\n"),
        );
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
          PODMORTEM_SECRETS_KEY:
            process.env.PODMORTEM_SECRETS_KEY ?? (await devSecretsKey(dataDir)),
        }),
        log,
      );
      // Stopped after Restate (teardown runs backwards): Restate first suspends the invocations
      // it has open on the endpoint, instead of the endpoint cutting them off mid-stream.
      teardown.splice(teardown.indexOf(restate.stop), 0, workflows.stop);
      // The one place that forces: the demo's endpoint keeps one URL across code edits, and a
      // development restart may replace the code under its own in-flight captures.
      await registerDeployment(
        { adminUrl: restate.adminUrl },
        `http://127.0.0.1:${PORTS.endpoint}`,
        { force: true },
      );

      // Captures of earlier runs (the data dir is kept) are not news: only captures that finish
      // from now on are reported. Right after a restart Restate may not answer queries yet.
      const since = new Date().toISOString();
      const earlier = await retrying(() => finishedCaptures(restate.adminUrl)).catch(() => []);

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
          ...(earlier.length > 0
            ? [
                `  earlier captures  ${earlier.length} kept from earlier runs (podmortem export <capture-id> --out DIR)`,
              ]
            : []),
          "Press Ctrl-C to stop.",
          "",
        ].join("\n"),
      );

      const reported = new Set<string>();
      const poll = setInterval(() => {
        void reportCaptures(restate.adminUrl, since, reported);
      }, 2000);
      teardown.push(async () => clearInterval(poll));

      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = () => {
          signals += 1;
          if (signals === 1) return resolve();
          // A second Ctrl-C must not orphan etcd, the API server and restate-server mid-teardown;
          // a third means the user would rather clean up by hand.
          if (signals === 2) return say("still stopping the servers; Ctrl-C again to leave them");
          say("leaving now: a server that had not stopped yet is still running");
          process.exit(EXIT.failure);
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
      });
      say("stopping…");
      // Invocations still open when Restate stops end with the SDK's (harmless) complaints about
      // cut streams; they go to a file instead of burying the terminal.
      if (!values.verbose) consoleToFile(path.join(dataDir, "dev-shutdown.log"));
      await stopAll();
      return EXIT.ok;
    } catch (error) {
      await stopAll();
      throw error;
    }
  },
};

/** The Restate SDK logs through console.*; podmortem's own lines do not. */
function consoleToFile(file: string): void {
  const out = createWriteStream(file, { flags: "a" });
  const write = (...args: unknown[]) => void out.write(`${format(...args)}\n`);
  for (const level of ["log", "info", "warn", "error", "debug", "trace"] as const)
    console[level] = write;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

type FinishedCapture = {
  key: string;
  phase: string;
  namespace: string;
  pod: string;
  container: string;
  custodyUri: string | undefined;
  finishedAt: string | null;
};

async function retrying<T>(action: () => Promise<T>, attempts = 10): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

async function finishedCaptures(adminUrl: string): Promise<FinishedCapture[]> {
  const rows = await queryRestate<{ service_key: string; value_utf8: string }>(
    { adminUrl },
    "SELECT service_key, value_utf8 FROM state WHERE service_name = 'Capture' AND key = 'status'",
  );
  return rows.flatMap((row) => {
    const status = JSON.parse(row.value_utf8) as {
      phase: string;
      namespace: string;
      pod: string;
      container: string;
      evidence: { custodyUri: string } | null;
      finishedAt: string | null;
    };
    if (status.phase === "running") return [];
    return [
      {
        key: row.service_key,
        phase: status.phase,
        namespace: status.namespace,
        pod: status.pod,
        container: status.container,
        custodyUri: status.evidence?.custodyUri,
        finishedAt: status.finishedAt,
      },
    ];
  });
}

async function reportCaptures(
  adminUrl: string,
  since: string,
  reported: Set<string>,
): Promise<void> {
  try {
    for (const capture of await finishedCaptures(adminUrl)) {
      if (reported.has(capture.key) || (capture.finishedAt ?? "") < since) continue;
      reported.add(capture.key);
      say(
        `capture ${capture.key} ${capture.phase}: ${capture.namespace}/${capture.pod} (${capture.container}) → ${capture.custodyUri ?? "no evidence"}`,
      );
    }
  } catch {
    // Restate may be restarting; the next poll reports what this one missed.
  }
}
