import type { DiagnosisInput, Finding, Rule } from "./finding.ts";
import { RULES } from "./registry.ts";

export type Diagnosis = {
  /** The finding the headline names: the strongest cause, or `unknown`. */
  top: Finding;
  /** Every finding, strongest first (the top one included). */
  findings: Finding[];
  /** Rules that threw on this evidence: a bug to fix, never a reason to lose the report. */
  failedRules: string[];
};

export const UNKNOWN_CODE = "unknown";

function unknownFinding(input: DiagnosisInput): Finding {
  const code = input.crash.exitCode;
  return {
    code: UNKNOWN_CODE,
    kind: "cause",
    severity: "info",
    summary: `No rule recognises the cause in the captured evidence (${input.crash.reason}${code !== null ? `, exit ${code}` : ""}).`,
    nextStep:
      "Read crash.log and events.json; the findings below are the facts that were recognised.",
    evidence: [{ artifact: "event", field: "reason" }],
    rank: 0,
  };
}

/** Strongest first: rank, then the later line in the log (what the process said last). */
function compareFindings(a: Finding, b: Finding): number {
  if (a.kind !== b.kind) return a.kind === "cause" ? -1 : 1;
  const logGroup = (f: Finding) => (f.anchorLine !== undefined ? 1 : 0);
  if (logGroup(a) && logGroup(b) && a.anchorLine !== b.anchorLine)
    return b.anchorLine! - a.anchorLine!;
  return b.rank - a.rank;
}

/** Runs every rule over the evidence. Pure: same evidence, same diagnosis. */
export function diagnose(input: DiagnosisInput, rules: readonly Rule[] = RULES): Diagnosis {
  const findings: Finding[] = [];
  const failedRules: string[] = [];
  for (const rule of rules) {
    try {
      findings.push(...rule.apply(input));
    } catch {
      failedRules.push(rule.name);
    }
  }
  findings.sort(compareFindings);
  const first = findings[0];
  const top = first && first.kind === "cause" ? first : unknownFinding(input);
  return { top, findings: top === first ? findings : [top, ...findings], failedRules };
}
