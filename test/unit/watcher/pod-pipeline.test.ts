import type { V1ContainerStatus } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";

import { createLogger } from "../../../src/logging.ts";
import type { PodEvent } from "../../../src/model/pod-event.ts";
import { defaultRemoteConfig, toWatcherConfig } from "../../../src/model/remote-config.ts";
import { createWatcherMetrics } from "../../../watcher/metrics.ts";
import type { Batcher } from "../../../watcher/pipeline/batcher.ts";
import { createOwnerResolver } from "../../../watcher/pipeline/owner-resolver.ts";
import { createPodPipeline } from "../../../watcher/pod-pipeline.ts";
import { crashLoopStatus, makePod } from "../../fixtures/pods.ts";

function pipeline() {
  const sent: PodEvent[] = [];
  const config = toWatcherConfig(defaultRemoteConfig());
  const pods = createPodPipeline({
    cluster: "c",
    // The seam: what the pipeline queues, in order, without timers or Restate.
    batcher: { add: (event: PodEvent) => sent.push(event) } as unknown as Batcher,
    resolver: createOwnerResolver(() => Promise.reject(new Error("a bare pod has no owner"))),
    metrics: createWatcherMetrics(),
    audit: () => undefined,
    log: createLogger({ name: "pipeline-test", level: "silent" }),
    now: () => 0,
    config: () => ({ ...config, dedup: { cooldownS: 0 } }),
  });
  const show = (status: V1ContainerStatus) =>
    pods.handle("MODIFIED", JSON.parse(JSON.stringify(makePod({ statuses: [status] }))));
  return { pods, sent, show };
}

const cleanExit = (restartCount: number): V1ContainerStatus => ({
  ...crashLoopStatus(restartCount, 0, "Completed"),
  state: { running: {} },
});

describe("the pod pipeline's claims", () => {
  it("claims on a first sighting every termination the status proves", () => {
    const { sent, show } = pipeline();
    show(crashLoopStatus(4));
    expect(sent.map((e) => [e.restartCount, e.suppressed])).toEqual([[3, 3]]);
  });

  it("claims the instances it did not see between two it saw, and not a clean exit it saw", () => {
    const { sent, show } = pipeline();
    show(crashLoopStatus(1)); // instance 0 failed
    show(cleanExit(2)); // instance 1 exited 0: no event, but seen
    show(crashLoopStatus(3)); // instance 2 failed
    show(crashLoopStatus(6)); // instances 3 and 4 were never shown; 5 failed
    expect(sent.map((e) => [e.restartCount, e.suppressed])).toEqual([
      [0, 0],
      [2, 0],
      [5, 2],
    ]);
  });

  it("lets the next event claim again what a dropped event claimed", () => {
    const { pods, sent, show } = pipeline();
    show(crashLoopStatus(1));
    show(crashLoopStatus(2));
    pods.release([sent[1]!]); // the queue was full: instance 1 never reaches Restate
    show(crashLoopStatus(3));
    expect(sent.map((e) => [e.restartCount, e.suppressed])).toEqual([
      [0, 0],
      [1, 0],
      [2, 1],
    ]);
  });
});
