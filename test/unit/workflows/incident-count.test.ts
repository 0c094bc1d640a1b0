import { describe, expect, it } from "vitest";

import {
  CONTAINER_MARKS_KEPT,
  markOf,
  newTerminations,
  withMark,
} from "../../../workflows/incident-count.ts";

const termination = (restartCount: number, suppressed = 0) => ({
  exitCode: 1,
  restartCount,
  suppressed,
});

describe("counting from the API server's own numbers", () => {
  it("counts a first sighting at instance 3 (restartCount 4) as 4 when the event claims them", () => {
    expect(newTerminations(termination(3, 3), undefined)).toBe(4);
  });

  it("counts what restartCount proves since the mark, however much more is claimed", () => {
    // A watcher restarted after a crash claims everything it did not see.
    expect(newTerminations(termination(5, 5), 1)).toBe(4);
    // Folded repeats of one container: the claim and the status agree.
    expect(newTerminations(termination(5, 3), 1)).toBe(4);
  });

  it("counts no more than the event claims: another signature's instances are not this one's", () => {
    // Instances alternate between two exit codes: 0 and 2 are this signature's, 1 another's.
    expect(newTerminations(termination(2, 0), 0)).toBe(1);
  });

  it("counts a late, repeated or second watcher's event nothing", () => {
    expect(newTerminations(termination(3, 3), 3)).toBe(0);
    expect(newTerminations(termination(2, 0), 3)).toBe(0);
  });

  it("bounds a claim by the instance's own restart count", () => {
    expect(newTerminations(termination(2, 1000), undefined)).toBe(3);
  });

  it("counts a waiting reason or an eviction once, whatever it claims", () => {
    expect(newTerminations({ exitCode: null, restartCount: 7, suppressed: 9 }, undefined)).toBe(1);
  });

  it("keeps a bounded set of marks, dropping the least recently counted container", () => {
    let marks = withMark([], "first/app", 1);
    for (let i = 0; i < CONTAINER_MARKS_KEPT - 1; i += 1)
      marks = withMark(marks, `pod-${i}/app`, 0);
    marks = withMark(marks, "first/app", 2); // counted again: most recent now
    marks = withMark(marks, "newcomer/app", 0);
    expect(marks).toHaveLength(CONTAINER_MARKS_KEPT);
    expect(markOf(marks, "first/app")).toBe(2);
    expect(markOf(marks, "pod-0/app")).toBeUndefined();
  });
});
