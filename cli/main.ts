import { EXIT, type ExitCode } from "./exit-codes.ts";
import { describeFailure } from "./failures.ts";

export type Command = {
  summary: string;
  usage: string;
  run(args: string[]): Promise<ExitCode>;
};

const COMMANDS: Record<string, () => Promise<Command>> = {
  dev: async () => (await import("./commands/dev.ts")).devCommand,
  watcher: async () => (await import("./commands/serve.ts")).watcherCommand,
  workflows: async () => (await import("./commands/serve.ts")).workflowsCommand,
  register: async () => (await import("./commands/register.ts")).registerCommand,
  retrieve: async () => (await import("./commands/retrieve.ts")).retrieveCommand,
  config: async () => (await import("./commands/config.ts")).configCommand,
  audit: async () => (await import("./commands/audit.ts")).auditCommand,
  forensic: async () => (await import("./commands/forensic.ts")).forensicCommand,
  export: async () => (await import("./commands/export.ts")).exportCommand,
  incidents: async () => (await import("./commands/incidents.ts")).incidentsCommand,
  show: async () => (await import("./commands/show.ts")).showCommand,
};

/** One line each for `podmortem --help`, without loading every command's module. */
const SUMMARIES: Record<string, string> = {
  dev: "the whole stack on this machine (--demo: with a local cluster and crashing pods)",
  watcher: "the in-cluster watcher (configured by PODMORTEM_* variables)",
  workflows: "the Restate workflows endpoint (configured by PODMORTEM_* variables)",
  register: "register the workflows endpoint with Restate",
  retrieve: "stream a checkpoint archive into the evidence store (runs in a pod on the node)",
  config: "get | set | history | rollback the runtime config (validated, versioned)",
  audit: "query the audit log; audit verify checks its SHA-256 chain",
  forensic: "list, show and export forensic pods; capture a live pod (also: kubectl forensic)",
  export: "download a capture's evidence by capture id, every hash verified",
  incidents: "list incidents with counts and the last capture's headline (--namespace, --since)",
  show: "print a capture's postmortem (report.md), checked against its custody hash",
};

/** The first usage line after `usage: `, the other forms aligned under it, options as written. */
export function formatUsage(usage: string): string {
  return usage
    .split("\n")
    .map((line, i) => (i === 0 || line.startsWith(" ") ? line : `       ${line}`))
    .join("\n");
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.keys(COMMANDS).map((name) =>
    `  ${name.padEnd(width)}  ${SUMMARIES[name] ?? ""}`.trimEnd(),
  );
  return [
    "podmortem: durable crash forensics for Kubernetes",
    "",
    "usage: podmortem <command> [options]   (podmortem <command> --help for its options)",
    "",
    "commands:",
    ...lines,
    "",
    "exit codes: 0 ok, 1 failure, 2 usage, 3 invalid input (nothing changed),",
    "            4 Restate or a prerequisite unavailable, 5 verification failed, 6 refused",
    "",
  ].join("\n");
}

/** `program` prefixes a failure's sentence: "kubectl" when run as the kubectl plugin. */
export async function runCli(argv: string[], program = "podmortem"): Promise<ExitCode> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(help());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`podmortem: unknown command "${name}"\n\n${help()}`);
    return EXIT.usage;
  }
  const command = await load();
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${command.summary}\n\nusage: ${formatUsage(command.usage)}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    const failure = describeFailure(error);
    process.stderr.write(`${program} ${name}: ${failure.message}\n`);
    if (process.env.PODMORTEM_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ""}\n`);
    return failure.exit;
  }
}
