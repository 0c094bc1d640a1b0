import { containerEvents, eventEvidence, quote } from "../evidence-view.ts";
import { RANK, type Rule } from "../finding.ts";

const FAILED = /^(Liveness|Startup) probe failed:?\s*(.*)$/s;
const KILLING = /failed (liveness|startup) probe/i;

/** The kubelet killed the container because its liveness or startup probe kept failing. */
export const probeKillRule: Rule = {
  name: "probe-kill",
  apply(input) {
    const events = containerEvents(input);
    const killing = events.find(
      (event) => event.reason === "Killing" && KILLING.test(event.message ?? ""),
    );
    const unhealthy = events.filter(
      (event) => event.reason === "Unhealthy" && FAILED.test(event.message ?? ""),
    );
    const killedBySignal = input.crash.exitCode === 137 || input.crash.exitCode === 143;
    if (!killing && !(unhealthy.length > 0 && killedBySignal)) return [];
    const last = unhealthy.at(-1);
    const probe = (
      KILLING.exec(killing?.message ?? "")?.[1] ??
      FAILED.exec(last?.message ?? "")?.[1] ??
      "liveness"
    ).toLowerCase();
    const detail = FAILED.exec(last?.message ?? "")?.[2];
    const failures = unhealthy.reduce((sum, event) => sum + (event.count ?? 1), 0);
    return [
      {
        code: probe === "startup" ? "probe.startup-kill" : "probe.liveness-kill",
        kind: "cause",
        severity: "error",
        summary:
          `The kubelet killed the container because its ${probe} probe failed` +
          (failures > 0 ? ` (${failures} failures)` : "") +
          (detail ? `: ${quote(detail)}` : "") +
          ".",
        nextStep:
          probe === "startup"
            ? "Give it longer to start (startupProbe failureThreshold × periodSeconds) or find what slows its start."
            : "Check the probe's path, port and timeout against the app; a probe that depends on a slow dependency kills a healthy process.",
        evidence: [
          ...(killing ? [eventEvidence(killing)] : []),
          ...(last ? [eventEvidence(last)] : []),
        ],
        rank: RANK.probeKill,
      },
    ];
  },
};
