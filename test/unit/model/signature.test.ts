import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";

import { computeOccurrenceId, computeSignature } from "../../../src/model/signature.ts";

const base = {
  cluster: "prod-eu",
  namespace: "shop",
  workload: { kind: "Deployment", name: "checkout" },
  container: "app",
  exitCode: 1 as number | null,
  reason: "Error",
};

describe("computeSignature", () => {
  it("hashes cluster, namespace, workload, container and exit code joined by NUL", () => {
    const expected = createHash("sha256")
      .update("prod-eu\0shop\0Deployment/checkout\0app\x001")
      .digest("hex");
    expect(computeSignature(base)).toBe(expected);
  });

  it("uses the reason when there is no exit code", () => {
    const pull = computeSignature({ ...base, exitCode: null, reason: "ImagePullBackOff" });
    const expected = createHash("sha256")
      .update("prod-eu\0shop\0Deployment/checkout\0app\0ImagePullBackOff")
      .digest("hex");
    expect(pull).toBe(expected);
  });

  it("tells apart exit codes, containers and workload kinds", () => {
    const signatures = new Set([
      computeSignature(base),
      computeSignature({ ...base, exitCode: 137 }),
      computeSignature({ ...base, container: "sidecar" }),
      computeSignature({ ...base, workload: { kind: "StatefulSet", name: "checkout" } }),
    ]);
    expect(signatures.size).toBe(4);
  });

  it("ignores the reason when an exit code is present, so pods of one workload share it", () => {
    expect(computeSignature({ ...base, reason: "CrashLoopBackOff" })).toBe(computeSignature(base));
  });
});

describe("computeOccurrenceId", () => {
  const occurrence = {
    podUID: "8f1c",
    container: "app",
    restartCount: 3,
    finishedAt: "2026-11-22T10:00:00Z",
    reason: "Error",
  };

  it("is stable for one termination", () => {
    expect(computeOccurrenceId(occurrence)).toBe(computeOccurrenceId({ ...occurrence }));
    expect(computeOccurrenceId(occurrence)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("differs for the next restart of the same container", () => {
    expect(computeOccurrenceId({ ...occurrence, restartCount: 4 })).not.toBe(
      computeOccurrenceId(occurrence),
    );
  });

  it("falls back to the reason when the container never finished", () => {
    const waiting = { ...occurrence, finishedAt: null, reason: "ImagePullBackOff" };
    const expected = createHash("sha256").update("8f1c\0app\x003\0ImagePullBackOff").digest("hex");
    expect(computeOccurrenceId(waiting)).toBe(expected);
  });
});
