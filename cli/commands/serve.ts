import { main as watcherMain } from "../../watcher/main.ts";
import { main as workflowsMain } from "../../workflows/main.ts";
import { EXIT } from "../exit-codes.ts";
import type { Command } from "../main.ts";

const KEEP_RUNNING = new Promise<never>(() => undefined);

export const watcherCommand: Command = {
  summary: "Run the in-cluster watcher (configured by PODMORTEM_* environment variables).",
  usage: "podmortem watcher",
  async run() {
    await watcherMain(process.env);
    await KEEP_RUNNING;
    return EXIT.ok;
  },
};

export const workflowsCommand: Command = {
  summary:
    "Serve the Restate workflows endpoint (configured by PODMORTEM_* environment variables).",
  usage: "podmortem workflows",
  async run() {
    await workflowsMain(process.env);
    await KEEP_RUNNING;
    return EXIT.ok;
  },
};
