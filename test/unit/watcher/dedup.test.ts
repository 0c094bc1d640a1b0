import { describe, expect, it } from "vitest";

import { Deduper, MAX_HELD_PER_SIGNATURE } from "../../../watcher/pipeline/dedup.ts";
import { makePodEvent } from "../../fixtures/pod-events.ts";

const occurrence = (i: number) => makePodEvent({ podUID: `uid-${i}`, restartCount: i });

describe("Deduper", () => {
  it("sends the first event of a signature and folds repeats within the cooldown", () => {
    const deduper = new Deduper(60_000);
    expect(deduper.offer(occurrence(1), 0)).toHaveProperty("send");
    expect(deduper.offer(occurrence(2), 1000)).toHaveProperty("folded");
    expect(deduper.offer(occurrence(3), 2000)).toHaveProperty("folded");
  });

  it("sends each container's newest folded event when the cooldown ends, so the counts add up", () => {
    const deduper = new Deduper(60_000);
    deduper.offer(occurrence(1), 0);
    for (let i = 2; i <= 5; i += 1) deduper.offer(occurrence(i), i * 1000);
    expect(deduper.drainExpired(30_000)).toEqual([]);
    // Four other pods folded: one event each, none standing for another pod's crash.
    const carried = deduper.drainExpired(60_000);
    expect(carried.map((event) => [event.podUID, event.suppressed])).toEqual(
      [2, 3, 4, 5].map((i) => [`uid-${i}`, 0]),
    );
  });

  it("folds one container's repeats into its newest event, which stands for them", () => {
    const deduper = new Deduper(60_000);
    const instance = (restartCount: number) => makePodEvent({ podUID: "uid-1", restartCount });
    deduper.offer(instance(0), 0);
    for (let r = 1; r <= 4; r += 1) deduper.offer(instance(r), r * 1000);
    expect(deduper.drainAll()).toEqual([
      expect.objectContaining({ podUID: "uid-1", restartCount: 4, suppressed: 3 }),
    ]);
  });

  it("adds up suppressed counts already claimed upstream", () => {
    const deduper = new Deduper(60_000);
    deduper.offer(occurrence(1), 0);
    deduper.offer({ ...occurrence(2), suppressed: 1 }, 10);
    deduper.offer({ ...makePodEvent({ podUID: "uid-2", restartCount: 5 }), suppressed: 2 }, 20);
    expect(deduper.drainAll()).toEqual([
      expect.objectContaining({ podUID: "uid-2", restartCount: 5, suppressed: 4 }),
    ]);
  });

  it("sends a new container's event at once when a window holds its bound of containers", () => {
    const deduper = new Deduper(60_000);
    deduper.offer(occurrence(0), 0);
    for (let i = 1; i <= MAX_HELD_PER_SIGNATURE; i += 1)
      expect(deduper.offer(occurrence(i), 1)).toHaveProperty("folded");
    expect(deduper.offer(occurrence(MAX_HELD_PER_SIGNATURE + 1), 2)).toHaveProperty("send");
    expect(deduper.drainAll()).toHaveLength(MAX_HELD_PER_SIGNATURE);
  });

  it("sends again after the cooldown, carrying what the old window folded", () => {
    const deduper = new Deduper(1000);
    deduper.offer(occurrence(1), 0);
    deduper.offer(makePodEvent({ podUID: "uid-2", restartCount: 2 }), 500);
    deduper.offer(makePodEvent({ podUID: "uid-2", restartCount: 3 }), 600);
    const decision = deduper.offer(occurrence(4), 1500);
    expect(decision).toEqual({
      send: [
        expect.objectContaining({ podUID: "uid-2", restartCount: 3, suppressed: 1 }),
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
