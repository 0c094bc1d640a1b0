import { asString, crashedContainer, lastTermination, quote } from "../evidence-view.ts";
import { RANK, type Rule } from "../finding.ts";

/** What the container wrote to its termination-message file: its own last words. */
export const terminationMessageRule: Rule = {
  name: "termination-message",
  apply(input) {
    if (input.crash.exitCode === null) return [];
    const message =
      input.crash.message.trim() || (asString(lastTermination(input)?.["message"]) ?? "").trim();
    if (!message) return [];
    const firstLine = message.split("\n").find((line) => line.trim() !== "") ?? message;
    return [
      {
        code: "termination-message",
        kind: "cause",
        severity: "error",
        summary: `The container's termination message says: "${quote(firstLine)}".`,
        nextStep: "The message is the program's own account; the log around it gives the context.",
        evidence: [
          {
            artifact: input.crash.message.trim() ? "event" : "pod.json",
            field: input.crash.message.trim()
              ? "message"
              : `${crashedContainer(input).statusField}.lastState.terminated.message`,
            quote: quote(firstLine),
          },
        ],
        rank: RANK.terminationMessage,
      },
    ];
  },
};
