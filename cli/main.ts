import { PodmortemError } from "../src/errors.ts";
import { EXIT, type ExitCode } from "./exit-codes.ts";

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
};

function help(): string {
  const lines = Object.keys(COMMANDS).map((name) => `  ${name}`);
  return [
    "podmortem: durable crash forensics for Kubernetes",
    "",
    "usage: podmortem <command> [options]   (podmortem <command> --help for its options)",
    "",
    "commands:",
    ...lines,
    "",
  ].join("\n");
}

export async function runCli(argv: string[]): Promise<ExitCode> {
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
    process.stdout.write(`${command.summary}\n\nusage: ${command.usage}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof PodmortemError) {
      process.stderr.write(`podmortem ${name}: ${error.message}\n`);
      return error.code === "CONFIG_INVALID" || error.code === "INPUT_INVALID"
        ? EXIT.invalidInput
        : error.code === "RESTATE_UNAVAILABLE" || error.code === "PREREQUISITE_MISSING"
          ? EXIT.unavailable
          : EXIT.failure;
    }
    throw error;
  }
}
