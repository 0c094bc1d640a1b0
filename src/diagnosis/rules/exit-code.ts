import { asArray, asString, crashedContainer, lastTermination } from "../evidence-view.ts";
import { RANK, type DiagnosisInput, type Finding, type Rule } from "../finding.ts";

const SIGNALS: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  11: "SIGSEGV",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
};

function commandOf(input: DiagnosisInput): string | undefined {
  const spec = crashedContainer(input).spec;
  const words = [...asArray(spec?.["command"]), ...asArray(spec?.["args"])]
    .map(asString)
    .filter((word): word is string => word !== undefined);
  return words.length > 0 ? words.join(" ").slice(0, 120) : undefined;
}

/** What the exit code says by itself; 137 and 143 only when nothing else explains the kill. */
export const exitCodeRule: Rule = {
  name: "exit-code",
  apply(input) {
    const code = input.crash.exitCode;
    if (code === null) return [];
    const reason = input.crash.reason;
    const evidence = [{ artifact: "event", field: "exitCode", quote: `exit ${code} (${reason})` }];
    const finding = (
      partial: Pick<Finding, "code" | "kind" | "severity" | "summary" | "nextStep" | "rank">,
    ): Finding[] => [{ ...partial, evidence }];
    const command = commandOf(input);
    const terminated = lastTermination(input);
    if (code === 0)
      return finding({
        code: "exit.completed-restarted",
        kind: "cause",
        severity: "warning",
        summary:
          "The main process exited 0 (Completed) and the pod's restart policy started it again: the program ends instead of running as a service.",
        nextStep:
          "Make the entrypoint stay in the foreground, or run it as a Job if it is meant to finish.",
        rank: RANK.completedRestarted,
      });
    if (code === 1)
      return finding({
        code: "exit.1",
        kind: "context",
        severity: "error",
        summary: "Exit 1 is a generic application error: the program chose to stop.",
        nextStep: "Read the last lines of crash.log for the error it printed.",
        rank: RANK.context,
      });
    if (code === 2)
      return finding({
        code: "exit.2",
        kind: "context",
        severity: "error",
        summary:
          "Exit 2 usually means a usage error: a bad flag or argument, or a shell builtin misused.",
        nextStep: `Check the container's command and args${command ? ` (${command})` : ""} against the program's usage.`,
        rank: RANK.context,
      });
    if (code === 126)
      return finding({
        code: "exit.not-executable",
        kind: "cause",
        severity: "error",
        summary: `The command was found but could not be executed (exit 126)${command ? `: ${command}` : ""}.`,
        nextStep:
          "Check the file's execute bit and format (a script without a shebang, a binary for another architecture).",
        rank: RANK.exitCodeCause,
      });
    if (code === 127)
      return finding({
        code: "exit.command-not-found",
        kind: "cause",
        severity: "error",
        summary: `The command was not found (exit 127)${command ? `: ${command}` : ""}.`,
        nextStep: "Check the command's path in the image and the container's command/args.",
        rank: RANK.exitCodeCause,
      });
    if (code === 255)
      return finding({
        code: "exit.255",
        kind: "context",
        severity: "error",
        summary:
          "Exit 255 is an out-of-range status (exit(-1)) or a fatal error the runtime reported without a code.",
        nextStep: "Read the last lines of crash.log.",
        rank: RANK.context,
      });
    if (code > 128 && code < 160) {
      const signal = input.crash.signal ?? code - 128;
      const name = SIGNALS[signal] ?? `signal ${signal}`;
      if (signal === 6)
        return finding({
          code: "signal.sigabrt",
          kind: "cause",
          severity: "error",
          summary:
            "The process aborted itself (SIGABRT, exit 134): a failed assertion, abort() or a runtime's fatal error.",
          nextStep: "Look in crash.log for the assertion or runtime error printed just before.",
          rank: RANK.exitCodeCause,
        });
      if (signal === 11)
        return finding({
          code: "signal.sigsegv",
          kind: "cause",
          severity: "error",
          summary:
            "The process crashed on a segmentation fault (SIGSEGV, exit 139): native code read or wrote memory it does not own.",
          nextStep:
            "Check native libraries and the image's architecture; a core dump or the checkpoint shows where.",
          rank: RANK.exitCodeCause,
        });
      // 137 with OOMKilled belongs to the OOM rule; eviction and probe kills to theirs.
      if (
        signal === 9 &&
        (reason === "OOMKilled" || asString(terminated?.["reason"]) === "OOMKilled")
      )
        return [];
      if (signal === 9)
        return finding({
          code: "signal.sigkill",
          kind: "cause",
          severity: "error",
          summary:
            "The process was killed by SIGKILL (exit 137) and not for memory (the reason is not OOMKilled): something outside it ended it.",
          nextStep:
            "Look for who killed it: a probe (events.json), a preStop hook or grace period that ran out, or the node (node.json).",
          rank: RANK.externalSignal,
        });
      if (signal === 15)
        return finding({
          code: "signal.sigterm",
          kind: "cause",
          severity: "warning",
          summary:
            "The process was stopped by SIGTERM (exit 143): a shutdown it was asked for (rollout, scale-down, probe, eviction) rather than a fault of its own.",
          nextStep:
            "Check events.json for who asked; if it ignores SIGTERM it is killed after terminationGracePeriodSeconds.",
          rank: RANK.externalSignal,
        });
      return finding({
        code: "signal.other",
        kind: "context",
        severity: "error",
        summary: `The process ended on ${name} (exit ${code}).`,
        nextStep: "Read the last lines of crash.log.",
        rank: RANK.context,
      });
    }
    return finding({
      code: "exit.other",
      kind: "context",
      severity: "error",
      summary: `The program exited ${code}; the code's meaning is the program's own.`,
      nextStep: "Look the code up in the program's documentation and read crash.log.",
      rank: RANK.context,
    });
  },
};
