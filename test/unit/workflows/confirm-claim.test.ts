import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";

import { podEventSchema } from "../../../src/model/pod-event.ts";
import { remoteConfigSchema } from "../../../src/model/remote-config.ts";
import {
  confirmClaim,
  confirmRequest,
  onDemandEvent,
} from "../../../workflows/steps/confirm-claim.ts";
import { onDemandSteps } from "../../../workflows/steps/on-demand.ts";
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

describe("confirmRequest: an on-demand pointer is believed in nothing", () => {
  const NOW = Date.parse("2026-11-22T10:00:00Z");
  const request = {
    id: "a".repeat(32),
    container: "app",
    checkpoint: true,
    copy: false,
    requestedBy: "alice",
    identitySource: "kubeconfig",
    requestedAt: "2026-11-22T09:59:00Z",
  };
  const claim = {
    cluster: "c",
    namespace: "shop",
    pod: "web",
    podUID: "uid-1",
    requestId: request.id,
  };
  const live = (annotation: unknown, labels?: Record<string, string>): V1Pod => ({
    metadata: {
      name: "web",
      namespace: "shop",
      uid: "uid-1",
      labels,
      annotations:
        annotation === undefined
          ? {}
          : {
              "forensic.io/capture-request":
                typeof annotation === "string" ? annotation : JSON.stringify(annotation),
            },
    },
    spec: { containers: [{ name: "app", image: "i" }] },
    status: {
      containerStatuses: [
        { name: "app", image: "i", imageID: "", ready: true, restartCount: 3, state: {} },
      ],
    },
  });

  it("confirms the request written on the pod, and builds the event from the pod", () => {
    const verdict = confirmRequest(live(request), claim, NOW);
    expect(verdict.kind).toBe("confirmed");
    const event = onDemandEvent(live(request), claim, verdict.request, "2026-11-22T10:00:01Z");
    expect(event).toMatchObject({ reason: "OnDemand", exitCode: null, restartCount: 3 });
    expect(podEventSchema.safeParse(event).success).toBe(true);
  });

  it.each([
    ["no pod", undefined, claim, "pod shop/web does not exist"],
    ["no annotation", live(undefined), claim, "has no forensic.io/capture-request annotation"],
    [
      "another id",
      live(request),
      { ...claim, requestId: "b".repeat(32) },
      `is request ${"a".repeat(32)}, not`,
    ],
    ["another UID", live(request), { ...claim, podUID: "uid-2" }, "the request names uid-2"],
    [
      "podmortem's own",
      live(request, { "forensic.io/role": "forensic-copy" }),
      claim,
      "podmortem's own",
    ],
    ["not JSON", live("{"), claim, "is not JSON"],
    ["a bad field", live({ ...request, copy: "yes" }), claim, "copy:"],
    [
      "an old request",
      live({ ...request, requestedAt: "2026-11-22T09:00:00Z" }),
      claim,
      "only requests of the last 15 minutes",
    ],
    ["no such container", live({ ...request, container: "db" }), claim, "has no container db"],
  ] as const)("refuses %s", (_name, pod, asked, detail) => {
    const verdict = confirmRequest(pod, asked, NOW);
    expect(verdict.kind).toBe("refused");
    expect(verdict.detail).toContain(detail);
  });

  it("lets a request turn steps on only where the config allows, never snapshots or a restart", () => {
    const capture = remoteConfigSchema.parse({
      capture: { steps: { checkpoint: false, forensicPod: true, restartAfterSalvage: true } },
    }).capture;
    const { capture: steps, why } = onDemandSteps(capture, {
      ...request,
      identitySource: "kubeconfig",
      copy: true,
    });
    expect(steps.steps).toMatchObject({
      checkpoint: false,
      forensicPod: true,
      snapshots: false,
      restartAfterSalvage: false,
    });
    expect(why.checkpoint).toBe(
      "a checkpoint was requested, but checkpoints are off in the config",
    );
    expect(why.forensicPod).toBeUndefined();
  });
});
