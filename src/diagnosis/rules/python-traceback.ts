import { lineRange } from "../log-scan.ts";
import { quote } from "../evidence-view.ts";
import { RANK, type Rule } from "../finding.ts";
import { lastIndex } from "./stack-traces.ts";

const START = /^Traceback \(most recent call last\):/;
const FILE = /^\s+File "([^"]+)", line (\d+)(?:, in (.+))?/;
const EXCEPTION =
  /^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault)|[A-Za-z_][\w.]*)(?::\s*(.*))?$/;

/** A Python traceback: the exception and the last frame (where it was raised). */
export const pythonTracebackRule: Rule = {
  name: "python-traceback",
  apply(input) {
    const log = input.log;
    if (!log) return [];
    const start = lastIndex(log, START);
    if (start < 0) return [];
    let frame: string | undefined;
    let end = start;
    for (let index = start + 1; index < log.lines.length && index - start < 200; index += 1) {
      const line = log.lines[index]!;
      const file = FILE.exec(line);
      if (file) {
        frame = `${file[1]!.replace(/^.*\//, "")}:${file[2]}${file[3] ? ` in ${file[3]}` : ""}`;
        continue;
      }
      if (/^\s/.test(line) || line.trim() === "") continue;
      end = index;
      break;
    }
    const exception = end > start ? EXCEPTION.exec(log.lines[end]!) : null;
    const type = exception?.[1] ?? "an exception";
    const message = exception?.[2];
    return [
      {
        code: "log.python-traceback",
        kind: "cause",
        severity: "error",
        summary: `The Python program died on ${type}${message ? `: ${quote(message)}` : ""}${frame ? ` at ${frame}` : ""}.`,
        nextStep: "Start from the last frame of the traceback in crash.log.",
        evidence: [
          {
            artifact: "crash.log",
            lines: lineRange(log, start, Math.max(start, end)),
            quote: quote(log.lines[end]!),
          },
        ],
        rank: RANK.logStackTrace,
        anchorLine: log.firstLine + end,
      },
    ];
  },
};
