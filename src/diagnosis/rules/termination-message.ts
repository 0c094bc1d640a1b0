import { asString, crashedContainer, lastTermination, quote } from "../evidence-view.ts";
import { RANK, type Evidence, type Rule } from "../finding.ts";

/** The kubelet's own words for a container in back-off: never the program's. */
const KUBELET_WAITING = /^back-off \d+\S* restarting failed container/i;

/**
 * What the container wrote to its termination-message file: its own last words. Read from the
 * termination in pod.json; the event's message is used only without pod.json, and never when it
 * is the kubelet's back-off notice (an event for a waiting container carries that instead).
 */
export const terminationMessageRule: Rule = {
  name: "termination-message",
  apply(input) {
    if (input.crash.exitCode === null) return [];
    const fromPod = asString(lastTermination(input)?.["message"])?.trim();
    const fromEvent = input.pod === undefined ? input.crash.message.trim() : "";
    const message = fromPod || (KUBELET_WAITING.test(fromEvent) ? "" : fromEvent);
    if (!message) return [];
    const firstLine = message.split("\n").find((line) => line.trim() !== "") ?? message;
    const evidence: Evidence = fromPod
      ? {
          artifact: "pod.json",
          field: `${crashedContainer(input).statusField}.lastState.terminated.message`,
          quote: quote(firstLine),
        }
      : { artifact: "event", field: "message", quote: quote(firstLine) };
    return [
      {
        code: "termination-message",
        kind: "cause",
        severity: "error",
        summary: `The container's termination message says: "${quote(firstLine)}".`,
        nextStep: "The message is the program's own account; the log around it gives the context.",
        evidence: [evidence],
        rank: RANK.terminationMessage,
      },
    ];
  },
};
