import { describe, expect, it } from "vitest";

import { renderConsoleUrl } from "../../../src/notifications/console-link.ts";
import {
  describePagerDutyRefusal,
  MAX_CUSTOM_DETAILS_BYTES,
  toPagerDutyEvent,
} from "../../../src/notifications/pagerduty.ts";
import { buildPayload } from "../../../src/notifications/payload.ts";
import type { PostmortemDigest } from "../../../src/notifications/postmortem-digest.ts";
import { toWebhookBody } from "../../../src/notifications/render-message.ts";
import { MAX_SECTION_CHARS, toSlackMessage } from "../../../src/notifications/slack.ts";
import { MAX_TEAMS_MESSAGE_BYTES, toTeamsMessage } from "../../../src/notifications/teams.ts";
import { makePodEvent } from "../../fixtures/pod-events.ts";

const payload = buildPayload(
  "captured",
  makePodEvent({}),
  { captureId: "pm-1", headline: "app in shop/x: it broke", topFinding: "exit.1" },
  "2026-11-22T10:00:06Z",
);
/** Twenty lines of 500 characters: more than one Slack section holds. */
const hugeDigest: PostmortemDigest = {
  headline: `app in shop/x: ${"a long headline ".repeat(100)}`,
  top: { code: "exit.1", severity: "error", summary: "exit 1", nextStep: "read the log" },
  whatChanged: "image app:1.2 → app:1.3, 42 s before the first crash",
  logTail: {
    lines: Array.from({ length: 20 }, (_, i) => `${i} ${"x".repeat(495)}`),
    totalLines: 900,
  },
  links: { report: "https://s3.example/r?X-Amz-Signature=abc", console: "https://c.example/x" },
};
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

describe("sink messages", () => {
  it("keeps every Slack section within Block Kit's 3000 characters, the log's end kept", () => {
    const message = toSlackMessage(payload, hugeDigest);
    const texts = message.blocks.flatMap((b) => ("text" in b && b.text ? [b.text.text] : []));
    for (const text of texts) expect(text.length).toBeLessThanOrEqual(MAX_SECTION_CHARS);
    const log = texts.find((t) => t.startsWith("*Last log lines*"))!;
    expect(log).toContain("…truncated (");
    expect(log).toContain(`19 ${"x".repeat(495)}`);
    expect(JSON.stringify(message)).toContain("image app:1.2 → app:1.3");
  });

  it("keeps a Teams message under 28 KB and a PagerDuty event's details under its cap", () => {
    const wide = {
      ...hugeDigest,
      logTail: { ...hugeDigest.logTail, lines: Array(60).fill("y".repeat(500)) },
    };
    const teams = toTeamsMessage(payload, wide);
    expect(bytes(teams)).toBeLessThanOrEqual(MAX_TEAMS_MESSAGE_BYTES);
    expect(JSON.stringify(teams)).toContain("…truncated (");
    const page = toPagerDutyEvent(payload, wide, "k".repeat(32));
    expect(bytes(page.payload.custom_details)).toBeLessThanOrEqual(MAX_CUSTOM_DETAILS_BYTES);
    expect(page.payload.custom_details.log_tail[0]).toMatch(/^…truncated \(\d+ earlier lines\)$/);
    expect(page.payload.summary.length).toBeLessThanOrEqual(1024);
    expect(page).toMatchObject({
      event_action: "trigger",
      dedup_key: payload.signature,
      payload: { severity: "error", class: "exit.1" },
      links: [{ href: hugeDigest.links.report }, { href: hugeDigest.links.console }],
    });
  });

  it("gives the webhook the postmortem beside the payload it always had", () => {
    expect(toWebhookBody(payload, hugeDigest)).toMatchObject({
      event: "captured",
      signature: payload.signature,
      finding: hugeDigest.top,
      whatChanged: hugeDigest.whatChanged,
      link: hugeDigest.links.report,
    });
  });

  it("fills a console template with encoded values and leaves PagerDuty's refusal readable, key-free", () => {
    expect(
      renderConsoleUrl(
        "https://c.example/{cluster}/ns/{namespace}/{pod}?c={captureId}&s={signature}",
        {
          ...payload,
          pod: "a b",
        },
      ),
    ).toBe(`https://c.example/test/ns/shop/a%20b?c=pm-1&s=${payload.signature}`);
    const key = "R0123456789abcdef0123456789abcde";
    expect(
      describePagerDutyRefusal(
        JSON.stringify({
          status: "invalid event",
          message: "Event object is invalid",
          errors: [`'routing_key' ${key} is invalid`],
        }),
        key,
      ),
    ).toBe("Event object is invalid; 'routing_key' [routing key] is invalid");
  });
});
