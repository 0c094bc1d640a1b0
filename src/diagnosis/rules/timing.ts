import { asString, formatDuration, lastTermination, secondsBetween } from "../evidence-view.ts";
import { RANK, type Rule } from "../finding.ts";

const STARTUP_S = 60;
const LONG_RUN_S = 3600;

/** How long the crashed instance ran: a startup failure and a slow leak call for different work. */
export const timingRule: Rule = {
  name: "timing",
  apply(input) {
    const terminated = lastTermination(input);
    const seconds =
      secondsBetween(input.crash.startedAt, input.crash.finishedAt) ??
      secondsBetween(asString(terminated?.["startedAt"]), asString(terminated?.["finishedAt"]));
    if (seconds === undefined) return [];
    const restarts = input.crash.restartCount;
    const evidence = [
      { artifact: "event", field: "startedAt,finishedAt", quote: `ran ${formatDuration(seconds)}` },
    ];
    if (seconds < STARTUP_S)
      return [
        {
          code: restarts >= 2 ? "timing.crash-on-start" : "timing.short-run",
          kind: "context",
          severity: "info",
          summary:
            restarts >= 2
              ? `It crashes ${formatDuration(seconds)} after starting, ${restarts} restarts so far: a startup failure (configuration, dependency, command) rather than something that builds up.`
              : `It ran ${formatDuration(seconds)} before crashing.`,
          nextStep:
            "Look at what the program does first: configuration, connections, files it opens.",
          evidence,
          rank: RANK.context,
        },
      ];
    if (seconds >= LONG_RUN_S)
      return [
        {
          code: "timing.crash-after-long-run",
          kind: "context",
          severity: "info",
          summary: `It ran ${formatDuration(seconds)} before crashing: something that builds up (memory, connections, disk) or expires (credentials, certificates).`,
          nextStep:
            "Look at memory and handle growth over the run and at anything that expires on that timescale.",
          evidence,
          rank: RANK.context,
        },
      ];
    return [];
  },
};
