import { containerEvents, crashedContainer, quote, waitingState } from "../evidence-view.ts";
import { RANK, type Rule } from "../finding.ts";

const NOT_FOUND_EXEC =
  /executable file not found|exec: "[^"]*": (stat .*: )?no such file|no such file or directory: unknown/i;
const PERMISSION = /permission denied/i;

/** CreateContainerError / RunContainerError: the runtime could not create or start it. */
export const createContainerErrorRule: Rule = {
  name: "create-container-error",
  apply(input) {
    const waiting = waitingState(input);
    const reason = [input.crash.reason, waiting.reason].find(
      (r) => r === "CreateContainerError" || r === "RunContainerError",
    );
    if (!reason) return [];
    const failed = containerEvents(input).find((event) => event.reason === "Failed");
    const text = input.crash.message || waiting.message || failed?.message || "";
    const evidence = [
      text === input.crash.message
        ? { artifact: "event", field: "message", quote: quote(text) }
        : text === waiting.message
          ? {
              artifact: "pod.json",
              field: `${crashedContainer(input).statusField}.state.waiting.message`,
              quote: quote(text),
            }
          : { artifact: "events.json", field: "reason=Failed", quote: quote(text) },
    ];
    const base = {
      kind: "cause" as const,
      severity: "error" as const,
      rank: RANK.waitingReason,
      evidence,
    };
    if (NOT_FOUND_EXEC.test(text))
      return [
        {
          ...base,
          code: "create.command-not-found",
          summary: `The runtime could not start the container: its command does not exist in the image (${quote(text)}).`,
          nextStep: "Check command/args against the image's filesystem and PATH.",
        },
      ];
    if (PERMISSION.test(text))
      return [
        {
          ...base,
          code: "create.permission-denied",
          summary: `The runtime could not start the container: permission denied (${quote(text)}).`,
          nextStep:
            "Check the entrypoint's execute bit, the securityContext and the volume's permissions.",
        },
      ];
    return [
      {
        ...base,
        code: reason === "RunContainerError" ? "run.error" : "create.error",
        summary: `The runtime could not ${reason === "RunContainerError" ? "start" : "create"} the container${text ? `: ${quote(text)}` : ""}.`,
        nextStep: "Read the runtime's message; it names the mount, device or setting it refused.",
      },
    ];
  },
};
