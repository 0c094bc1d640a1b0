import { describe, expect, it } from "vitest";

import { podEventSchema } from "../../../src/model/pod-event.ts";
import { detectFailures } from "../../../watcher/pipeline/detect.ts";
import { inferWorkload } from "../../../watcher/pipeline/workload.ts";
import { crashLoopStatus, makePod } from "../../fixtures/pods.ts";

const context = {
  cluster: "test",
  workload: { kind: "Deployment", name: "checkout" },
  observedAt: "2026-11-22T10:01:00.000Z",
};

function asEvent(detection: ReturnType<typeof detectFailures>[number]) {
  return podEventSchema.parse({
    ...detection.event,
    projectId: null,
    workloadId: null,
    suppressed: 0,
  });
}

describe("detectFailures", () => {
  it("turns a crash loop's last termination into a valid event", () => {
    const [detection, ...rest] = detectFailures(
      makePod({ statuses: [crashLoopStatus(3)] }),
      context,
    );
    expect(rest).toHaveLength(0);
    const event = asEvent(detection!);
    expect(event).toMatchObject({
      reason: "Error",
      exitCode: 1,
      restartCount: 2,
      container: "app",
    });
    expect(detection!.reasons).toContain("CrashLoopBackOff");
  });

  it("gives the same occurrence id whether the termination is current or last", () => {
    const terminated = crashLoopStatus(0);
    const current = {
      ...terminated,
      state: { terminated: terminated.lastState!.terminated! },
      lastState: {},
    };
    const restarted = { ...terminated, restartCount: 1 };
    const [a] = detectFailures(makePod({ statuses: [current] }), context);
    const [b] = detectFailures(makePod({ statuses: [restarted] }), context);
    expect(a!.event.id).toBe(b!.event.id);
  });

  it("reports OOMKilled with its signal", () => {
    const [detection] = detectFailures(
      makePod({ statuses: [crashLoopStatus(1, 137, "OOMKilled")] }),
      context,
    );
    expect(detection!.event).toMatchObject({ reason: "OOMKilled", exitCode: 137, signal: 9 });
  });

  it("reports an image that cannot be pulled, with no exit code", () => {
    const status = {
      name: "app",
      image: "registry.example/app:nope",
      imageID: "",
      ready: false,
      restartCount: 0,
      state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } },
    };
    const [detection] = detectFailures(makePod({ statuses: [status] }), context);
    expect(asEvent(detection!)).toMatchObject({
      reason: "ImagePullBackOff",
      exitCode: null,
      finishedAt: null,
    });
  });

  it("ignores a container that completed successfully", () => {
    const status = { ...crashLoopStatus(1, 0, "Completed"), state: { running: {} } };
    expect(detectFailures(makePod({ statuses: [status] }), context)).toEqual([]);
  });

  it("reports a failed init container as init", () => {
    const init = { ...crashLoopStatus(2), name: "migrate" };
    const [detection] = detectFailures(makePod({ initStatuses: [init] }), context);
    expect(detection!.event).toMatchObject({ container: "migrate", containerType: "init" });
  });

  it("reports an evicted pod once", () => {
    const pod = makePod({
      phase: "Failed",
      reason: "Evicted",
      message: "The node was low on resource: memory.",
    });
    const detections = detectFailures(pod, context);
    expect(detections).toHaveLength(1);
    expect(asEvent(detections[0]!)).toMatchObject({
      reason: "Evicted",
      message: expect.stringContaining("memory"),
    });
  });

  it("reports a container that crashed and now cannot start as two failures", () => {
    const crashed = crashLoopStatus(2);
    const status = {
      ...crashed,
      state: { waiting: { reason: "CreateContainerConfigError", message: "configmap missing" } },
    };
    const detections = detectFailures(makePod({ statuses: [status] }), context);
    expect(detections.map((d) => [d.event.reason, d.reasons])).toEqual([
      ["Error", ["Error"]],
      ["CreateContainerConfigError", ["CreateContainerConfigError"]],
    ]);
    expect(detections[0]!.event.message).not.toContain("configmap");
    const [before] = detectFailures(makePod({ statuses: [crashed] }), context);
    expect(detections[0]!.event.id).toBe(before!.event.id);
  });

  it("reports each failing container of a multi-container pod", () => {
    const sidecar = { ...crashLoopStatus(1, 2), name: "sidecar" };
    const detections = detectFailures(
      makePod({ containers: ["app", "sidecar"], statuses: [crashLoopStatus(1), sidecar] }),
      context,
    );
    expect(detections.map((d) => d.event.container).sort()).toEqual(["app", "sidecar"]);
    expect(new Set(detections.map((d) => d.event.signature)).size).toBe(2);
  });
});

describe("inferWorkload", () => {
  it("names the Deployment behind a ReplicaSet", () => {
    const pod = makePod({ owner: { kind: "ReplicaSet", name: "checkout-7d9f8b6c5" } });
    expect(inferWorkload(pod)).toEqual({ kind: "Deployment", name: "checkout" });
  });

  it("treats a bare pod as its own workload", () => {
    expect(inferWorkload(makePod({ name: "debug" }))).toEqual({ kind: "Pod", name: "debug" });
  });
});
