import { containerEvents, eventEvidence, quote } from "../evidence-view.ts";
import { RANK, type Rule } from "../finding.ts";

const READINESS = /^Readiness probe failed:?\s*(.*)$/s;

/** Readiness failures take a pod out of its Service; they never restart it, so only context. */
export const readinessFailingRule: Rule = {
  name: "readiness-failing",
  apply(input) {
    const failing = containerEvents(input).filter(
      (event) => event.reason === "Unhealthy" && READINESS.test(event.message ?? ""),
    );
    const last = failing.at(-1);
    if (!last) return [];
    const count = failing.reduce((sum, event) => sum + (event.count ?? 1), 0);
    return [
      {
        code: "probe.readiness-failing",
        kind: "context",
        severity: "warning",
        summary: `Its readiness probe failed ${count} times (${quote(READINESS.exec(last.message ?? "")?.[1] ?? "")}), so it received no traffic while failing.`,
        nextStep: "Check the readiness probe against what the app serves while it starts.",
        evidence: [eventEvidence(last)],
        rank: RANK.context,
      },
    ];
  },
};
