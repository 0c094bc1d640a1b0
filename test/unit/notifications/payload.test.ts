import { describe, expect, it } from "vitest";

import { buildPayload } from "../../../src/notifications/payload.ts";
import { makePodEvent } from "../../fixtures/pod-events.ts";

describe("notification payload", () => {
  it("carries where, what, how often and the links to the evidence and the forensic pod", () => {
    const event = makePodEvent({ exitCode: 137, reason: "OOMKilled" });
    const payload = buildPayload(
      "captured",
      event,
      {
        occurrences: 4,
        captureId: "pm-1",
        outcome: "succeeded",
        evidenceUri: "s3://evidence/test/shop/checkout-7d9f-abcde/t/custody.json",
        forensicPod: "shop/forensic-pm-1",
      },
      "2026-11-22T10:00:09Z",
    );
    expect(payload).toEqual({
      event: "captured",
      cluster: "test",
      namespace: "shop",
      pod: "checkout-7d9f-abcde",
      workload: { kind: "Deployment", name: "checkout" },
      container: "app",
      reason: "OOMKilled",
      exitCode: 137,
      signature: event.signature,
      occurrences: 4,
      captureId: "pm-1",
      outcome: "succeeded",
      evidenceUri: "s3://evidence/test/shop/checkout-7d9f-abcde/t/custody.json",
      evidenceFolder: null,
      forensicPod: "shop/forensic-pm-1",
      headline: null,
      topFinding: null,
      at: "2026-11-22T10:00:09Z",
    });
  });

  it("has null, not missing, fields for what a detection does not know yet", () => {
    const payload = buildPayload("detected", makePodEvent(), {}, "2026-11-22T10:00:06Z");
    expect(payload).toMatchObject({
      occurrences: null,
      captureId: null,
      outcome: null,
      evidenceUri: null,
      forensicPod: null,
    });
    expect(Object.values(payload)).not.toContain(undefined);
  });
});
