import { describe, expect, it } from "vitest";

import { changedSummary, patchFromAssignments } from "../../../cli/commands/config.ts";
import { PodmortemError } from "../../../src/errors.ts";

describe("config set --set", () => {
  it("builds a nested patch, values read as YAML", () => {
    expect(
      patchFromAssignments([
        "dedup.cooldownS=600",
        "capture.steps.forensicPod=false",
        "detection.reasons=[OOMKilled, Error]",
        "namespaces.selector=team in (a,b)",
      ]),
    ).toEqual({
      dedup: { cooldownS: 600 },
      capture: { steps: { forensicPod: false } },
      detection: { reasons: ["OOMKilled", "Error"] },
      namespaces: { selector: "team in (a,b)" },
    });
  });

  it("refuses an assignment without a path", () => {
    expect(() => patchFromAssignments(["=3"])).toThrow(PodmortemError);
    expect(() => patchFromAssignments(["dedup.cooldownS"])).toThrow("expected path=value");
  });
});

describe("config history's CHANGED column", () => {
  it("lists the changed paths, cut to the column's width with what is left counted", () => {
    expect(changedSummary(undefined)).toBe("-");
    expect(changedSummary([])).toBe("(no change)");
    expect(changedSummary([{ path: "a.b" }, { path: "c" }])).toBe("a.b, c");
    const cut = changedSummary([{ path: "x".repeat(50) }, { path: "y".repeat(50) }], 3, 40);
    expect(cut).toHaveLength(40);
    expect(cut.endsWith("… +3 more")).toBe(true);
  });
});
