#!/usr/bin/env node
// The entry point, run by Node 24 itself: the image's ENTRYPOINT, `npm start` and bin/podmortem.
import { endOnClosedPipe, requireNode } from "./require-node.js";

requireNode("podmortem");
endOnClosedPipe();
const args = process.argv.slice(2);
// The Restate SDK reads RESTATE_LOGGING once, when it is first imported (by ../cli/main.ts): the
// local stack prints only podmortem's own lines unless asked for more. ERROR, not WARN: at WARN
// the SDK prints a 12-line TerminalError stack for every refused config and a request-signature
// warning at every start; the Restate UI shows every invocation's failures anyway.
if (args[0] === "dev")
  process.env.RESTATE_LOGGING ??= args.includes("--verbose") ? "INFO" : "ERROR";
const { runCli } = await import("../cli/main.ts");
process.exitCode = await runCli(args);
