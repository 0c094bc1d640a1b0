import { describe, expect, it } from "vitest";

import type { PodEvent } from "../../../src/model/pod-event.ts";
import { Batcher } from "../../../watcher/pipeline/batcher.ts";
import { makePodEvent } from "../../fixtures/pod-events.ts";

function events(count: number): PodEvent[] {
  return Array.from({ length: count }, (_, i) =>
    makePodEvent({ podUID: `uid-${i}`, restartCount: i }),
  );
}

describe("Batcher", () => {
  it("flushes a full batch at once and the rest on the interval", async () => {
    const sent: PodEvent[][] = [];
    const batcher = new Batcher(
      { maxEvents: 3, flushIntervalMs: 20, queueBound: 100 },
      {
        send: async (batch) => void sent.push(batch),
        onDropped: () => {},
        onQueueDepth: () => {},
        onSendFailed: () => {},
      },
    );
    for (const event of events(4)) batcher.add(event);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sent.map((batch) => batch.length)).toEqual([3, 1]);
    batcher.stop();
  });

  it("keeps order and retries while the receiver fails", async () => {
    const sent: string[] = [];
    let failures = 2;
    const batcher = new Batcher(
      { maxEvents: 2, flushIntervalMs: 5, queueBound: 100 },
      {
        send: async (batch) => {
          if (failures-- > 0) throw new Error("restate down");
          sent.push(...batch.map((e) => e.podUID));
        },
        onDropped: () => {},
        onQueueDepth: () => {},
        onSendFailed: () => {},
      },
    );
    const input = events(5);
    for (const event of input) batcher.add(event);
    await batcher.flush(5000);
    expect(sent).toEqual(input.map((e) => e.podUID));
    batcher.stop();
  });

  it("drops the oldest events beyond the bound and says how many", async () => {
    const dropped: PodEvent[] = [];
    const batcher = new Batcher(
      { maxEvents: 100, flushIntervalMs: 10_000, queueBound: 3 },
      {
        send: async () => {},
        onDropped: (batch) => dropped.push(...batch),
        onQueueDepth: () => {},
        onSendFailed: () => {},
      },
    );
    const input = events(5);
    for (const event of input) batcher.add(event);
    expect(dropped.map((e) => e.podUID)).toEqual(["uid-0", "uid-1"]);
    expect(batcher.depth).toBe(3);
    batcher.stop();
  });
});
