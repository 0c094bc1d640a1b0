import { lineRange } from "../log-scan.ts";
import { quote } from "../evidence-view.ts";
import { RANK, type Rule } from "../finding.ts";
import { extend, lastIndex } from "./stack-traces.ts";

const FRAME =
  /^\s+at (?:.+ \()?(?:file:\/\/)?[^()\s]*(?:\.(?:m?js|cjs|ts)|node:[\w/]+):\d+:\d+\)?$|^\s+at (?:.+ \()?node:internal/;
const HEADER = /^(?:Uncaught )?((?:[A-Z]\w*)?Error|[A-Z]\w*Exception)(?: \[(\w+)\])?:?\s*(.*)$/;

/** A Node.js error with its stack: the error, its code, and the first frame of the app's own. */
export const nodeErrorRule: Rule = {
  name: "node-error",
  apply(input) {
    const log = input.log;
    if (!log) return [];
    const lastFrame = lastIndex(log, FRAME);
    if (lastFrame < 0) return [];
    let header = lastFrame;
    while (header > 0 && FRAME.test(log.lines[header]!)) header -= 1;
    const top = HEADER.exec(log.lines[header]!.trim());
    if (!top) return [];
    const end = extend(log, header, (line) => FRAME.test(line));
    const frames = log.lines
      .slice(header + 1, end + 1)
      .map((line) => line.trim().replace(/^at /, ""));
    const own = frames.find((frame) => !/node:|node_modules/.test(frame)) ?? frames[0];
    return [
      {
        code: "log.node-error",
        kind: "cause",
        severity: "error",
        summary: `The Node.js program died on ${top[1]}${top[2] ? ` [${top[2]}]` : ""}${top[3] ? `: ${quote(top[3])}` : ""}${own ? ` at ${own}` : ""}.`,
        nextStep: "Start from the first frame in the app's own code in crash.log.",
        evidence: [
          {
            artifact: "crash.log",
            lines: lineRange(log, header, end),
            quote: quote(log.lines[header]!),
          },
        ],
        rank: RANK.logStackTrace,
        anchorLine: log.firstLine + header,
      },
    ];
  },
};
