import { describe, expect, it } from "vitest";

import { diagnose, UNKNOWN_CODE } from "../../../src/diagnosis/diagnose.ts";
import type { Rule } from "../../../src/diagnosis/finding.ts";
import { RULES } from "../../../src/diagnosis/registry.ts";
import { CORPUS } from "./corpus.ts";

describe("diagnosis corpus", () => {
  it("holds at least 20 scenarios", () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(20);
  });

  for (const scenario of CORPUS) {
    it(`names ${scenario.expected} for: ${scenario.name}`, () => {
      const diagnosis = diagnose(scenario.input);
      expect(diagnosis.failedRules).toEqual([]);
      expect(diagnosis.top.code).toBe(scenario.expected);
      expect(diagnosis.top.summary).toMatch(/\.$/);
      expect(diagnosis.top.evidence.length).toBeGreaterThan(0);
    });
  }
});

describe("diagnose", () => {
  it("is deterministic: the same evidence gives the same findings", () => {
    for (const scenario of CORPUS)
      expect(diagnose(scenario.input)).toEqual(diagnose(structuredClone(scenario.input)));
  });

  it("lists every rule once, each with a distinct name", () => {
    const names = RULES.map((rule) => rule.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThanOrEqual(20);
  });

  it("a rule that throws is reported by name and the others still run", () => {
    const broken: Rule = {
      name: "broken",
      apply: () => {
        throw new Error("bad evidence");
      },
    };
    const oom = CORPUS.find((s) => s.expected === "oom.limit")!;
    const diagnosis = diagnose(oom.input, [broken, ...RULES]);
    expect(diagnosis.failedRules).toEqual(["broken"]);
    expect(diagnosis.top.code).toBe("oom.limit");
  });

  it("survives evidence of the wrong shape and says unknown", () => {
    const diagnosis = diagnose({
      crash: { ...CORPUS[0]!.input.crash, reason: "Error", exitCode: 1 },
      pod: { spec: "not an object", status: [1, 2] },
      events: [{ reason: 7 } as never],
      node: "nonsense",
    });
    expect(diagnosis.failedRules).toEqual([]);
    expect(diagnosis.top.code).toBe(UNKNOWN_CODE);
  });

  it("quotes from the log are masked", () => {
    const scenario = CORPUS.find((s) => s.expected === "log.connection-refused")!;
    const log = scenario.input.log!;
    const input = {
      ...scenario.input,
      log: {
        ...log,
        lines: [
          ...log.lines.slice(0, -1),
          "FATAL postgres://app:hunter2@10.96.12.4:5432/shop: connect: connection refused",
        ],
      },
    };
    const top = diagnose(input).top;
    expect(top.code).toBe("log.connection-refused");
    expect(JSON.stringify(top)).not.toContain("hunter2");
    expect(top.summary).toContain("10.96.12.4:5432");
  });
});
