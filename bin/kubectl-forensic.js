#!/usr/bin/env node
// `kubectl forensic …` is `podmortem forensic …`; bin/kubectl-forensic runs this with Node 24.
import { endOnClosedPipe, requireNode } from "./require-node.js";

requireNode("kubectl-forensic");
endOnClosedPipe();
const { runCli } = await import("../cli/main.ts");
process.exitCode = await runCli(["forensic", ...process.argv.slice(2)], "kubectl");
