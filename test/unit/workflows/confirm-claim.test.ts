import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";

import { confirmClaim } from "../../../workflows/steps/confirm-claim.ts";
import { makePodEvent } from "../../fixtures/pod-events.ts";

const FINISHED = "2026-11-22T10:00:05Z";

function podWith(status: NonNullable<V1Pod["status"]>, labels?: Record<string, string>): V1Pod {
  return {
    metadata: { name: "checkout-7d9f-abcde", namespace: "shop", uid: "uid-1", labels },
    status,
  };
}

const crashed = podWith({
  containerStatuses: [
    {
      name: "app",
      image: "i",
      imageID: "",
      ready: false,
      restartCount: 2,
      state: { waiting: { reason: "CrashLoopBackOff" } },
      lastState: {
        terminated: { exitCode: 1, reason: "Error", finishedAt: FINISHED as unknown as Date },
      },
    },
  ],
});

describe("confirmClaim", () => {
  it("confirms the termination the status shows", () => {
    const event = makePodEvent({ restartCount: 1, finishedAt: FINISHED });
    expect(confirmClaim(crashed, event).kind).toBe("confirmed");
  });

  it("confirms an earlier instance whose exit the status still proves", () => {
    const event = makePodEvent({ restartCount: 0, finishedAt: "2026-01-01T00:00:00Z" });
    expect(confirmClaim(crashed, event).kind).toBe("confirmed");
  });

  it("contradicts another exit code, or more restarts than the status shows", () => {
    expect(confirmClaim(crashed, makePodEvent({ restartCount: 1, exitCode: 2 })).kind).toBe(
      "contradicted",
    );
    expect(confirmClaim(crashed, makePodEvent({ restartCount: 7 })).detail).toContain("claims 7");
  });

  it("contradicts a claim for another pod of the same name", () => {
    const verdict = confirmClaim(crashed, makePodEvent({ podUID: "uid-2", restartCount: 1 }));
    expect(verdict).toEqual({
      kind: "contradicted",
      detail: "pod shop/checkout-7d9f-abcde has UID uid-1, the event claims uid-2",
    });
  });

  it("confirms a waiting reason, pull failures alike, and refuses podmortem's own pods", () => {
    const pulling = (labels?: Record<string, string>) =>
      podWith(
        {
          containerStatuses: [
            {
              name: "app",
              image: "i",
              imageID: "",
              ready: false,
              restartCount: 0,
              state: { waiting: { reason: "ErrImagePull" } },
            },
          ],
        },
        labels,
      );
    const claim = makePodEvent({
      reason: "ImagePullBackOff",
      exitCode: null,
      restartCount: 0,
      finishedAt: null,
    });
    expect(confirmClaim(pulling(), claim).kind).toBe("confirmed");
    expect(confirmClaim(pulling({ "forensic.io/role": "forensic-copy" }), claim).kind).toBe("own");
    expect(confirmClaim(pulling({ "app.kubernetes.io/managed-by": "podmortem" }), claim).kind).toBe(
      "own",
    );
  });

  it("says why when there is no pod to check", () => {
    expect(confirmClaim(undefined, makePodEvent(), "403: forbidden")).toEqual({
      kind: "gone",
      detail: "403: forbidden: nothing to confirm",
    });
  });
});
