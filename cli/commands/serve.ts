import { EXIT } from "../exit-codes.ts";
import type { Command } from "../main.ts";

const KEEP_RUNNING = new Promise<never>(() => undefined);

export const watcherCommand: Command = {
  summary: "Run the in-cluster watcher (configured by PODMORTEM_* environment variables).",
  usage: [
    "podmortem watcher",
    "  configured by environment (the chart's ConfigMap): PODMORTEM_CLUSTER_NAME, PODMORTEM_RESTATE_URL,",
    "  PODMORTEM_HTTP_PORT, PODMORTEM_LEADER_ELECTION, …; every variable and its default: docs/deploy.md",
  ].join("\n"),
  async run() {
    // Each process loads only its own side: the workflows' modules (Restate SDK, S3 client)
    // cost the watcher ~20 MiB of RSS for nothing.
    const { main } = await import("../../watcher/main.ts");
    await main(process.env);
    await KEEP_RUNNING;
    return EXIT.ok;
  },
};

export const workflowsCommand: Command = {
  summary:
    "Serve the Restate workflows endpoint (configured by PODMORTEM_* environment variables).",
  usage: [
    "podmortem workflows",
    "  configured by environment (the chart's ConfigMap): PODMORTEM_ENDPOINT_PORT, PODMORTEM_S3_BUCKET or",
    "  PODMORTEM_EVIDENCE_DIR, PODMORTEM_RESTATE_IDENTITY_KEYS, …; every variable and its default: docs/deploy.md",
  ].join("\n"),
  async run() {
    const { main } = await import("../../workflows/main.ts");
    await main(process.env);
    await KEEP_RUNNING;
    return EXIT.ok;
  },
};
