import { describe, expect, it } from "vitest";

import { statusFingerprint, toSlimPod } from "../../../watcher/informers/slim-pod.ts";

const raw = {
  metadata: {
    name: "checkout-1",
    namespace: "shop",
    uid: "u1",
    labels: { app: "checkout", "project-id": "shop", "pod-template-hash": "abc" },
    annotations: { "kubectl.kubernetes.io/last-applied-configuration": "x".repeat(5000) },
    managedFields: [{ manager: "kubelet", fieldsV1: { f: "x".repeat(5000) } }],
    ownerReferences: [
      {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        name: "checkout-abc",
        uid: "rs",
        controller: true,
      },
    ],
  },
  spec: {
    nodeName: "n1",
    containers: [{ name: "app", image: "img", env: [{ name: "A", value: "1" }] }],
  },
  status: {
    phase: "Running",
    containerStatuses: [
      {
        name: "app",
        image: "img",
        imageID: "img@sha",
        ready: false,
        restartCount: 2,
        state: { waiting: { reason: "CrashLoopBackOff" } },
        lastState: {
          terminated: { exitCode: 1, reason: "Error", finishedAt: "2026-11-22T10:00:00Z" },
        },
      },
    ],
  },
};

describe("slim pods", () => {
  it("keeps what detection reads and drops the rest", () => {
    const slim = toSlimPod(raw)!;
    const size = JSON.stringify(slim).length;
    expect(size).toBeLessThan(900);
    expect(slim.metadata?.labels).toEqual({ "project-id": "shop", "pod-template-hash": "abc" });
    expect(slim.metadata).not.toHaveProperty("managedFields");
    expect(slim.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({
      exitCode: 1,
      reason: "Error",
    });
  });

  it("changes its fingerprint only when the status detection reads changes", () => {
    const relabelled = { ...raw, metadata: { ...raw.metadata, labels: { app: "other" } } };
    expect(statusFingerprint(relabelled)).toBe(statusFingerprint(raw));
    const restarted = structuredClone(raw);
    restarted.status.containerStatuses[0]!.restartCount = 3;
    expect(statusFingerprint(restarted)).not.toBe(statusFingerprint(raw));
  });
});
