import { asString, podStatus, quote } from "../evidence-view.ts";
import { RANK, type Evidence, type Rule } from "../finding.ts";

const EPHEMERAL = /ephemeral[- ]local[- ]storage|ephemeral-storage|EmptyDir volume .* exceeds/i;
const PRESSURE = /low on resource: (\w[\w-]*)/i;

/** The kubelet evicted the pod: node pressure, or the pod's own ephemeral storage limit. */
export const evictionRule: Rule = {
  name: "eviction",
  apply(input) {
    const status = podStatus(input);
    const event = (input.events ?? []).find((e) => e.reason === "Evicted");
    const evicted =
      asString(status?.["reason"]) === "Evicted" ||
      input.crash.reason === "Evicted" ||
      event !== undefined;
    if (!evicted) return [];
    const message = asString(status?.["message"]) ?? event?.message ?? input.crash.message;
    const evidence: Evidence[] = [
      asString(status?.["reason"]) === "Evicted"
        ? { artifact: "pod.json", field: "status.message", quote: quote(message) }
        : event
          ? { artifact: "events.json", field: "reason=Evicted", quote: quote(message) }
          : { artifact: "event", field: "message", quote: quote(message) },
    ];
    if (EPHEMERAL.test(message))
      return [
        {
          code: "evicted.ephemeral-storage",
          kind: "cause",
          severity: "error",
          summary:
            "The pod was evicted for using more ephemeral storage (logs, emptyDir, writable layer) than its limit or the node allows.",
          nextStep:
            "Find what writes to local disk; set ephemeral-storage requests/limits or move the data to a volume.",
          evidence,
          rank: RANK.eviction,
        },
      ];
    const resource = PRESSURE.exec(message)?.[1];
    return [
      {
        code: "evicted.node-pressure",
        kind: "cause",
        severity: "error",
        summary: `The kubelet evicted the pod because its node was low on ${resource ?? "a resource"}${resource ? "" : " (the message does not say which)"}.`,
        nextStep:
          "Pods that use more than they request are evicted first: set requests to real usage, and check the node's other tenants.",
        evidence,
        rank: RANK.eviction,
      },
    ];
  },
};
