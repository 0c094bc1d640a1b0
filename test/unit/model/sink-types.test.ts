import { describe, expect, it } from "vitest";

import { redactSecrets, remoteConfigSchema } from "../../../src/model/remote-config.ts";
import { validate } from "../../../src/model/validation.ts";

const KEY = "R0123456789abcdef0123456789abcde";

function problems(notifications: unknown): string[] {
  const result = validate(remoteConfigSchema, { notifications });
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.problem}`);
}

describe("pagerduty and teams sinks, and the link", () => {
  it("takes a pagerduty sink with an inline routing key and no url, and a teams sink with a url", () => {
    expect(
      problems({
        sinks: [
          { name: "pd", type: "pagerduty", routingKey: KEY },
          { name: "pd2", type: "pagerduty", routingKeySecretRef: { name: "pd", key: "key" } },
          { name: "teams", type: "teams", url: "https://example.org/workflows/x?sig=y" },
        ],
        link: { presignExpiryS: 604_800, consoleUrlTemplate: "https://c.example/{cluster}/{pod}" },
      }),
    ).toEqual([]);
  });

  it("names every bad field of a sink and of the link", () => {
    expect(
      problems({
        sinks: [
          { name: "teams", type: "teams" },
          { name: "ok", type: "webhook", url: "https://example.org/h" },
          { name: "pd", type: "pagerduty", routingKey: "short" },
          { name: "pd-none", type: "pagerduty" },
          { name: "slack", type: "slack", url: "https://example.org/s", routingKey: KEY },
          {
            name: "pd-ref",
            type: "pagerduty",
            routingKey: KEY,
            urlSecretRef: { name: "a", key: "b" },
          },
        ],
        link: { presignExpiryS: 604_801, consoleUrlTemplate: "https://c.example/{podname}" },
      }),
    ).toEqual([
      "notifications.sinks[0].url: give exactly one of url or urlSecretRef",
      "notifications.sinks[2].routingKey: must be a PagerDuty integration key: 32 letters and digits",
      "notifications.sinks[3].routingKey: a pagerduty sink needs exactly one of routingKey or routingKeySecretRef",
      "notifications.sinks[4].routingKey: routingKey applies to pagerduty sinks only",
      "notifications.sinks[5].urlSecretRef: a pagerduty sink takes url (default https://events.pagerduty.com/v2/enqueue), not urlSecretRef",
      "notifications.link.presignExpiryS: Too big: expected number to be <=604800",
      "notifications.link.consoleUrlTemplate: unknown placeholder {podname}; use {cluster}, {namespace}, {pod}, {captureId}, {signature}",
    ]);
    expect(problems({ link: { consoleUrlTemplate: "ftp://{cluster}" } })).toEqual([
      "notifications.link.consoleUrlTemplate: must be an http(s) URL once its placeholders are filled in",
    ]);
  });

  it("redacts the routing key for the watcher and the diff", () => {
    const config = remoteConfigSchema.parse({
      notifications: { sinks: [{ name: "pd", type: "pagerduty", routingKey: KEY }] },
    });
    expect(JSON.stringify(redactSecrets(config))).not.toContain(KEY);
  });
});
