import { asArray, asNumber, asObject, asString, podStatus } from "../evidence-view.ts";
import { RANK, type Rule } from "../finding.ts";

/** A failing init container holds the whole pod in Init: nothing else starts. */
export const initContainerRule: Rule = {
  name: "init-container",
  apply(input) {
    const statuses = asArray(podStatus(input)?.["initContainerStatuses"]).map(asObject);
    const failing = statuses.find((status) => {
      const state = asObject(status?.["state"]);
      // Only the current state: an init container that failed once and then succeeded holds nothing.
      const terminated = asObject(state?.["terminated"]);
      const waiting = asString(asObject(state?.["waiting"])?.["reason"]);
      return (
        (asNumber(terminated?.["exitCode"]) ?? 0) !== 0 ||
        waiting === "CrashLoopBackOff" ||
        (status?.["name"] === input.crash.container && input.crash.containerType === "init")
      );
    });
    const name =
      asString(failing?.["name"]) ??
      (input.crash.containerType === "init" ? input.crash.container : undefined);
    if (!name) return [];
    const restarts = asNumber(failing?.["restartCount"]) ?? input.crash.restartCount;
    const exit = name === input.crash.container ? input.crash.exitCode : undefined;
    return [
      {
        code: "init.failed",
        kind: "cause",
        severity: "error",
        summary:
          `Init container ${name} fails${exit !== null && exit !== undefined ? ` with exit ${exit}` : ""}` +
          ` (${restarts} restarts), holding the pod in Init: no other container starts until it succeeds.`,
        nextStep: `Read its log (containers/${name}.previous.log); init containers usually wait for or prepare a dependency.`,
        evidence: [{ artifact: "pod.json", field: `status.initContainerStatuses[${name}]` }],
        rank: RANK.initContainer,
      },
    ];
  },
};
