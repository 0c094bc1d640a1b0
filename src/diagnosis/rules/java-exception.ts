import { lineRange } from "../log-scan.ts";
import { quote } from "../evidence-view.ts";
import { RANK, type Rule } from "../finding.ts";
import { extend, lastIndex } from "./stack-traces.ts";

const FRAME =
  /^\s+at [\w$.<>]+\([\w$.]+\.(java|kt|scala|groovy):\d+\)|^\s+at [\w$.<>]+\((Native Method|Unknown Source)\)|^\s+\.\.\. \d+ more/;
const HEADER =
  /^(?:Exception in thread "[^"]*" )?((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable))(?::\s*(.*))?$/;
const CAUSED_BY = /^Caused by: ((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*)(?::\s*(.*))?$/;

/** A JVM exception: its type and message, the root cause, and the first frame. */
export const javaExceptionRule: Rule = {
  name: "java-exception",
  apply(input) {
    const log = input.log;
    if (!log) return [];
    // The exception line is the one right before a run of `at` frames.
    const firstFrame = lastIndex(log, FRAME);
    if (firstFrame < 0) return [];
    let header = firstFrame;
    // Back over frames and Caused-by sections to the outermost exception's line.
    while (header > 0 && (FRAME.test(log.lines[header]!) || CAUSED_BY.test(log.lines[header]!)))
      header -= 1;
    const top = HEADER.exec(log.lines[header]!.trim());
    if (!top) return [];
    const end = extend(log, header, (line) => FRAME.test(line) || CAUSED_BY.test(line));
    let root: { type: string; message: string } = { type: top[1]!, message: top[2] ?? "" };
    let frame: string | undefined;
    for (let index = header + 1; index <= end; index += 1) {
      const line = log.lines[index]!;
      const cause = CAUSED_BY.exec(line);
      if (cause) {
        root = { type: cause[1]!, message: cause[2] ?? "" };
        frame = undefined;
      } else if (!frame && /^\s+at /.test(line)) frame = line.trim().replace(/^at /, "");
    }
    const caused =
      root.type !== top[1]
        ? ` (root cause ${root.type}${root.message ? `: ${quote(root.message)}` : ""})`
        : "";
    return [
      {
        code: "log.java-exception",
        kind: "cause",
        severity: "error",
        summary: `The JVM program died on ${top[1]}${top[2] ? `: ${quote(top[2])}` : ""}${caused}${frame ? ` at ${frame}` : ""}.`,
        nextStep: "Start from the root cause's first frame in crash.log.",
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
