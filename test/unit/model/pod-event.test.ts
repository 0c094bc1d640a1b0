import { describe, expect, it } from "vitest";

import { podEventBatchSchema, podEventSchema } from "../../../src/model/pod-event.ts";
import { describeProblems, validate } from "../../../src/model/validation.ts";
import { makePodEvent } from "../../fixtures/pod-events.ts";

describe("podEventSchema", () => {
  it("accepts a complete event", () => {
    expect(validate(podEventSchema, makePodEvent()).ok).toBe(true);
  });

  it("names every bad field", () => {
    const bad = { ...makePodEvent(), id: "nope", restartCount: -1, containerType: "sidecar" };
    const result = validate(podEventSchema, bad);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const paths = result.problems.map((p) => p.path).sort();
    expect(paths).toEqual(["containerType", "id", "restartCount"]);
    expect(describeProblems(result.problems)).toContain("id: must be a 64-character");
  });

  it("refuses unknown fields so typos are not silently dropped", () => {
    const result = validate(podEventSchema, { ...makePodEvent(), namspace: "x" });
    expect(result.ok).toBe(false);
  });

  it("points into the batch at the bad event", () => {
    const result = validate(podEventBatchSchema, {
      events: [makePodEvent(), { ...makePodEvent(), namespace: "" }],
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems[0]?.path).toBe("events[1].namespace");
  });

  it("refuses an empty batch", () => {
    expect(validate(podEventBatchSchema, { events: [] }).ok).toBe(false);
  });
});
