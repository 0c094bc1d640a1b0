import { lastMatch, lineRange } from "../log-scan.ts";
import { quote } from "../evidence-view.ts";
import { RANK, type DiagnosisInput, type Finding } from "../finding.ts";

/** A finding anchored on the last line, in the log's tail, that says a known phrase. */
export function phraseFinding(
  input: DiagnosisInput,
  pattern: RegExp,
  build: (match: RegExpExecArray, line: string) => Pick<Finding, "code" | "summary" | "nextStep">,
): Finding[] {
  const log = input.log;
  const found = lastMatch(log, pattern);
  if (!log || !found) return [];
  return [
    {
      ...build(found.match, found.line),
      kind: "cause",
      severity: "error",
      evidence: [
        {
          artifact: "crash.log",
          lines: lineRange(log, found.index, found.index),
          quote: quote(found.line),
        },
      ],
      rank: RANK.logSpecific,
      anchorLine: found.lineNumber,
    },
  ];
}
