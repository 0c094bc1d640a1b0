import { describe, expect, it } from "vitest";
import { z } from "zod";

import { NOTIFICATION_EVENTS } from "../../../src/model/remote-config.ts";
import { buildPayload } from "../../../src/notifications/payload.ts";
import { toSlackMessage } from "../../../src/notifications/slack.ts";
import { makePodEvent } from "../../fixtures/pod-events.ts";

// Block Kit's documented limits for the blocks podmortem uses.
const text = z.strictObject({
  type: z.enum(["plain_text", "mrkdwn"]),
  text: z.string().min(1).max(3000),
  emoji: z.boolean().optional(),
});
const blockKitMessage = z.strictObject({
  text: z.string().min(1).max(40_000),
  blocks: z
    .array(
      z.discriminatedUnion("type", [
        z.strictObject({
          type: z.literal("header"),
          text: text.extend({ type: z.literal("plain_text"), text: z.string().min(1).max(150) }),
        }),
        z.strictObject({
          type: z.literal("section"),
          text: text.optional(),
          fields: z
            .array(text.extend({ text: z.string().max(2000) }))
            .max(10)
            .optional(),
        }),
        z.strictObject({ type: z.literal("context"), elements: z.array(text).min(1).max(10) }),
      ]),
    )
    .min(1)
    .max(50),
});

describe("Slack message", () => {
  it.each(NOTIFICATION_EVENTS)("is valid Block Kit for %s", (event) => {
    const payload = buildPayload(
      event,
      makePodEvent({ workload: { kind: "Deployment", name: "x".repeat(300) } }),
      {
        occurrences: 3,
        captureId: "pm-1",
        evidenceUri: "s3://b/k/custody.json",
        forensicPod: "shop/f",
        headline: `app in shop/x: ${"a very long finding ".repeat(300)}`,
        topFinding: "oom.limit",
      },
      "2026-11-22T10:00:06Z",
    );
    expect(() => blockKitMessage.parse(toSlackMessage(payload))).not.toThrow();
  });

  it("leads with the postmortem's headline and its top finding when the capture has one", () => {
    const message = toSlackMessage(
      buildPayload(
        "captured",
        makePodEvent({ reason: "OOMKilled", exitCode: 137 }),
        {
          headline:
            "app in shop/checkout-7d9f-abcde: The container was OOMKilled at its memory limit of 256Mi.",
          topFinding: "oom.limit",
        },
        "2026-11-22T10:00:06Z",
      ),
    );
    expect(message.blocks[2]).toEqual({
      type: "section",
      text: {
        type: "mrkdwn",
        text: "*Why:* app in shop/checkout-7d9f-abcde: The container was OOMKilled at its memory limit of 256Mi. (`oom.limit`)",
      },
    });
  });

  it("shows the pod, the reason with its exit code, the evidence and how to open the forensic pod", () => {
    const message = toSlackMessage(
      buildPayload(
        "captured",
        makePodEvent({ reason: "OOMKilled", exitCode: 137 }),
        { occurrences: 2, evidenceUri: "s3://b/k/custody.json", forensicPod: "shop/forensic-pm-1" },
        "2026-11-22T10:00:06Z",
      ),
    );
    const all = JSON.stringify(message);
    expect(message.text).toContain("shop/checkout-7d9f-abcde");
    expect(all).toContain("OOMKilled (exit 137)");
    expect(all).toContain("s3://b/k/custody.json");
    expect(all).toContain("kubectl -n shop exec -it forensic-pm-1 -- sh");
  });

  it("leaves out the links a detection does not have yet", () => {
    const message = toSlackMessage(buildPayload("detected", makePodEvent(), {}, "t"));
    expect(JSON.stringify(message)).not.toContain("evidence:");
    expect(message.blocks.map((b) => b.type)).toEqual(["header", "section", "context"]);
  });
});
