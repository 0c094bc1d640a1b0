import { lineRange } from "../log-scan.ts";
import { quote } from "../evidence-view.ts";
import { RANK, type Rule } from "../finding.ts";
import { extend, lastIndex } from "./stack-traces.ts";

const PANIC = /^(panic: |fatal error: )(.*)$/;
const FRAME_FUNC = /^([\w./*()-]+)\(.*\)$/;
const FRAME_FILE = /^\s+(\S+\.go:\d+)/;

/** A Go panic or fatal error: the message and the first frame outside the runtime. */
export const goPanicRule: Rule = {
  name: "go-panic",
  apply(input) {
    const log = input.log;
    if (!log) return [];
    const start = lastIndex(log, PANIC);
    if (start < 0) return [];
    const end = extend(log, start, (line) => !/^\S+.*\b(INFO|WARN|level=|msg=)/.test(line));
    const message = PANIC.exec(log.lines[start]!)![2] ?? "";
    let where: string | undefined;
    for (let index = start + 1; index < end; index += 1) {
      const func = FRAME_FUNC.exec(log.lines[index]!)?.[1];
      const file = FRAME_FILE.exec(log.lines[index + 1] ?? "")?.[1];
      if (func && file && !func.startsWith("runtime.") && !func.startsWith("panic(")) {
        where = `${func} (${file.replace(/^.*\//, "")})`;
        break;
      }
    }
    return [
      {
        code: "log.go-panic",
        kind: "cause",
        severity: "error",
        summary: `The Go program panicked: ${quote(message)}${where ? ` in ${where}` : ""}.`,
        nextStep:
          "Fix the panic at the named frame; the goroutine trace in crash.log shows the call path.",
        evidence: [
          {
            artifact: "crash.log",
            lines: lineRange(log, start, end),
            quote: quote(log.lines[start]!),
          },
        ],
        rank: RANK.logStackTrace,
        anchorLine: log.firstLine + start,
      },
    ];
  },
};
