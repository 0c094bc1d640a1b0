import { describe, expect, it } from "vitest";

import { Deduper } from "../../../watcher/pipeline/dedup.ts";
import { makePodEvent } from "../../fixtures/pod-events.ts";

const occurrence = (i: number) => makePodEvent({ podUID: `uid-${i}`, restartCount: i });

describe("Deduper", () => {
  it("sends the first event of a signature and folds repeats within the cooldown", () => {
    const deduper = new Deduper(60_000);
    expect(deduper.offer(occurrence(1), 0)).toHaveProperty("send");
    expect(deduper.offer(occurrence(2), 1000)).toHaveProperty("folded");
    expect(deduper.offer(occurrence(3), 2000)).toHaveProperty("folded");
  });

  it("sends what was folded when the cooldown ends, so the counts add up", () => {
    const deduper = new Deduper(60_000);
    deduper.offer(occurrence(1), 0);
    for (let i = 2; i <= 5; i += 1) deduper.offer(occurrence(i), i * 1000);
    expect(deduper.drainExpired(30_000)).toEqual([]);
    const [carried, ...rest] = deduper.drainExpired(60_000);
    expect(rest).toHaveLength(0);
    // 1 sent + the carried event (1) + its suppressed (3) = 5 occurrences.
    expect(carried).toMatchObject({ podUID: "uid-5", suppressed: 3 });
  });

  it("adds up suppressed counts already folded upstream", () => {
    const deduper = new Deduper(60_000);
    deduper.offer(occurrence(1), 0);
    deduper.offer({ ...occurrence(2), suppressed: 4 }, 10);
    expect(deduper.drainAll()).toEqual([expect.objectContaining({ suppressed: 4 })]);
  });

  it("sends again after the cooldown, carrying what the old window folded", () => {
    const deduper = new Deduper(1000);
    deduper.offer(occurrence(1), 0);
    deduper.offer(occurrence(2), 500);
    deduper.offer(occurrence(3), 600);
    const decision = deduper.offer(occurrence(4), 1500);
    expect(decision).toEqual({
      send: [
        expect.objectContaining({ podUID: "uid-3", suppressed: 1 }),
        expect.objectContaining({ podUID: "uid-4", suppressed: 0 }),
      ],
    });
  });

  it("passes everything through with a cooldown of zero", () => {
    const deduper = new Deduper(0);
    expect(deduper.offer(occurrence(1), 0)).toHaveProperty("send");
    expect(deduper.offer(occurrence(2), 0)).toHaveProperty("send");
  });
});
