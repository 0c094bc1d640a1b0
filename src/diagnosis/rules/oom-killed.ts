import {
  crashedContainer,
  lastTermination,
  memoryOf,
  nodeCondition,
  asString,
} from "../evidence-view.ts";
import { RANK, type Evidence, type Rule } from "../finding.ts";

export const oomKilledRule: Rule = {
  name: "oom-killed",
  apply(input) {
    const terminated = lastTermination(input);
    const view = crashedContainer(input);
    const oom =
      input.crash.reason === "OOMKilled" || asString(terminated?.["reason"]) === "OOMKilled";
    if (!oom) return [];
    const { limit, request } = memoryOf(view.spec);
    const pressure = nodeCondition(input, "MemoryPressure");
    const evidence: Evidence[] = [{ artifact: "event", field: "reason", quote: "OOMKilled" }];
    if (view.spec)
      evidence.push({
        artifact: "pod.json",
        field: `spec.containers[${input.crash.container}].resources`,
        quote: `limits.memory=${limit ?? "none"} requests.memory=${request ?? "none"}`,
      });
    if (pressure)
      evidence.push({ artifact: "node.json", field: "conditions[MemoryPressure]", quote: "True" });
    const requested = request ? ` (request ${request})` : "";
    if (limit)
      return [
        {
          code: "oom.limit",
          kind: "cause",
          severity: "critical",
          summary: `The container was OOMKilled at its memory limit of ${limit}${requested}${pressure ? ", on a node that was also under memory pressure" : ""}.`,
          nextStep:
            "Compare the limit with the working set before the crash (kubectl top, container_memory_working_set_bytes); raise it or find the leak.",
          evidence,
          rank: RANK.oom,
        },
      ];
    return [
      {
        code: pressure ? "oom.node-pressure" : "oom.no-limit",
        kind: "cause",
        severity: "critical",
        summary: pressure
          ? `The container was OOMKilled with no memory limit while its node was under memory pressure${requested}: the node ran out of memory.`
          : `The container was OOMKilled with no memory limit set${requested}: the kernel killed it when the node's or cgroup's memory ran out.`,
        nextStep:
          "Set a memory request and limit from the measured working set, so the scheduler places it on a node with room.",
        evidence,
        rank: RANK.oom,
      },
    ];
  },
};
