#!/usr/bin/env node
const [major] = process.versions.node.split(".").map(Number);
if (major < 24) {
  process.stderr.write(`kubectl-forensic needs Node >= 24 (this is ${process.versions.node}).\n`);
  process.exit(2);
}
const { runCli } = await import("../cli/main.ts");
process.exitCode = await runCli(["forensic", ...process.argv.slice(2)]);
