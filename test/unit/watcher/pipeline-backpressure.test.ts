import { describe, expect, it } from "vitest";

import { createLogger } from "../../../src/logging.ts";
import type { PodEvent } from "../../../src/model/pod-event.ts";
import { defaultRemoteConfig, toWatcherConfig } from "../../../src/model/remote-config.ts";
import { createWatcherMetrics } from "../../../watcher/metrics.ts";
import type { Batcher } from "../../../watcher/pipeline/batcher.ts";
import { createOwnerResolver } from "../../../watcher/pipeline/owner-resolver.ts";
import { createPodPipeline, MAX_PENDING_RESOLUTIONS } from "../../../watcher/pod-pipeline.ts";

/** A pod of its own ReplicaSet whose container just crashed: its owner must be looked up. */
function crashedPod(n: number) {
  return {
    metadata: {
      name: `pod-${n}`,
      namespace: "shop",
      uid: `uid-${n}`,
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: `rs-${n}`,
          uid: `rs-${n}`,
          controller: true,
        },
      ],
    },
    spec: { containers: [{ name: "app", image: "app:1" }] },
    status: {
      phase: "Running",
      containerStatuses: [
        {
          name: "app",
          image: "app:1",
          imageID: "",
          ready: false,
          restartCount: 1,
          state: { waiting: { reason: "CrashLoopBackOff" } },
          lastState: {
            terminated: { exitCode: 1, reason: "Error", finishedAt: "2026-12-01T00:00:00Z" },
          },
        },
      ],
    },
  };
}

describe("the pod pipeline's backpressure", () => {
  it("asks the watch to wait while too many owner lookups are in flight, and lets it go on at the low mark", async () => {
    const lookups: Array<() => void> = [];
    const queued: PodEvent[] = [];
    const pipeline = createPodPipeline({
      cluster: "c",
      batcher: { add: (event: PodEvent) => queued.push(event) } as unknown as Batcher,
      resolver: createOwnerResolver(
        () => new Promise((resolve) => lookups.push(() => resolve(undefined))),
      ),
      metrics: createWatcherMetrics(),
      audit: () => undefined,
      log: createLogger({ name: "unit", level: "silent" }),
      now: () => 1_800_000_000_000,
      config: () => toWatcherConfig(defaultRemoteConfig()),
    });
    for (let n = 0; n < MAX_PENDING_RESOLUTIONS - 1; n += 1)
      pipeline.handle("MODIFIED", crashedPod(n));
    expect(pipeline.whenCaughtUp()).toBeUndefined();
    pipeline.handle("MODIFIED", crashedPod(MAX_PENDING_RESOLUTIONS));
    const wait = pipeline.whenCaughtUp();
    expect(wait).toBeInstanceOf(Promise);
    let resumed = false;
    void wait!.then(() => (resumed = true));
    // Answer lookups one by one: the watch goes on only once 64 are left.
    let answered = 0;
    while (!resumed) {
      lookups.shift()!();
      answered += 1;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(MAX_PENDING_RESOLUTIONS - answered).toBe(64);
    for (const answer of lookups.splice(0)) answer();
    await new Promise((resolve) => setTimeout(resolve, 0));
    // Nothing was lost while the watch waited: every crash reached the queue.
    expect(queued).toHaveLength(MAX_PENDING_RESOLUTIONS);
  });
});
