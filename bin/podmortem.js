#!/usr/bin/env node
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `podmortem needs Node >= 24 (this is ${process.versions.node}): run it through npm ` +
      "(npm start, npx podmortem), which uses the node@24 devDependency, or install Node 24.\n",
  );
  process.exit(2);
}
const { runCli } = await import("../cli/main.ts");
process.exitCode = await runCli(process.argv.slice(2));
