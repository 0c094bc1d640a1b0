#!/usr/bin/env node
// `kubectl forensic …` is `podmortem forensic …`; bin/kubectl-forensic runs this with Node 24.
import { requireNode } from "./require-node.js";

requireNode("kubectl-forensic");
const { runCli } = await import("../cli/main.ts");
process.exitCode = await runCli(["forensic", ...process.argv.slice(2)]);
