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

  it.each([
    ["delivered", 0],
    ["failed and retried", 3],
  ])(
    "counts every event once when the queue overflows while a batch is in flight (%s)",
    async (_, failuresBefore) => {
      const sent: string[] = [];
      const dropped: string[] = [];
      let failures = failuresBefore;
      const batcher = new Batcher(
        { maxEvents: 2, flushIntervalMs: 5, queueBound: 3 },
        {
          send: async (batch) => {
            await new Promise((resolve) => setTimeout(resolve, 20));
            if (failures-- > 0) throw new Error("restate down");
            sent.push(...batch.map((e) => e.podUID));
          },
          onDropped: (batch) => dropped.push(...batch.map((e) => e.podUID)),
          onQueueDepth: () => {},
          onSendFailed: () => {},
        },
      );
      const input = events(8);
      const order = input.map((e) => e.podUID);
      for (const event of input.slice(0, 2)) batcher.add(event);
      await new Promise((resolve) => setTimeout(resolve, 10));
      for (const event of input.slice(2)) batcher.add(event);
      await batcher.flush(5000);
      batcher.stop();
      expect([...dropped, ...sent].sort()).toEqual([...order].sort());
      expect(sent).toEqual(order.filter((uid) => sent.includes(uid)));
      expect(dropped.length).toBeGreaterThan(0);
    },
  );

  it("isolates the one event the receiver refuses and delivers the rest in order", async () => {
    const sent: string[] = [];
    const rejected: string[] = [];
    let requests = 0;
    const refusal = Object.assign(new Error("400 Bad Request"), { status: 400 });
    const batcher = new Batcher(
      { maxEvents: 8, flushIntervalMs: 5, queueBound: 100 },
      {
        send: async (batch) => {
          requests += 1;
          if (batch.some((e) => e.podUID === "uid-5")) throw refusal;
          sent.push(...batch.map((e) => e.podUID));
        },
        onDropped: () => {},
        onRejected: (event) => rejected.push(event.podUID),
        onQueueDepth: () => {},
        onSendFailed: () => {},
      },
    );
    const input = events(8);
    for (const event of input) batcher.add(event);
    await batcher.flush(5000);
    batcher.stop();
    expect(rejected).toEqual(["uid-5"]);
    expect(sent).toEqual(input.map((e) => e.podUID).filter((uid) => uid !== "uid-5"));
    expect(requests).toBeLessThanOrEqual(8);
  });

  it("gives up a flush at its deadline while the receiver is down", async () => {
    const batcher = new Batcher(
      { maxEvents: 2, flushIntervalMs: 5, queueBound: 100 },
      {
        send: () => Promise.reject(new Error("restate down")),
        onDropped: () => {},
        onQueueDepth: () => {},
        onSendFailed: () => {},
      },
    );
    for (const event of events(3)) batcher.add(event);
    const started = Date.now();
    await batcher.flush(300);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(batcher.depth).toBe(3);
    batcher.stop();
  });
});
