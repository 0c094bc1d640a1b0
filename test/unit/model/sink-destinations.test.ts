import { describe, expect, it } from "vitest";

import { redactSecrets, remoteConfigSchema } from "../../../src/model/remote-config.ts";
import { describeProblems, validate } from "../../../src/model/validation.ts";

const withSinks = (urls: string[], allowedDestinations?: string[]) => ({
  notifications: {
    ...(allowedDestinations ? { allowedDestinations } : {}),
    sinks: urls.map((url, i) => ({ name: `sink-${i}`, type: "webhook", url })),
  },
});

describe("sink destinations in the config", () => {
  it("refuses metadata, loopback, private and ULA sink URLs by their field, without echoing them", () => {
    const urls = [
      "http://169.254.169.254/latest/meta-data/iam/secret-token",
      "http://[fd00:ec2::254]/latest/secret-token",
      "http://127.0.0.1:8089/secret-token",
      "http://[::ffff:127.0.0.1]/secret-token",
      "https://192.168.1.10/secret-token",
      "https://[fd12::1]/secret-token",
      "http://metadata.google.internal/secret-token",
      "https://hooks.slack.com/services/T/B/secret-token",
    ];
    const result = validate(remoteConfigSchema, withSinks(urls));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.path)).toEqual(
      [0, 1, 2, 3, 4, 5, 6].map((i) => `notifications.sinks[${i}].url`),
    );
    expect(result.problems[0]!.problem).toBe(
      "points to a cloud metadata address; podmortem calls such a destination only when notifications.allowedDestinations names it",
    );
    expect(describeProblems(result.problems)).not.toContain("secret-token");
  });

  it("accepts them when notifications.allowedDestinations names them", () => {
    const result = validate(
      remoteConfigSchema,
      withSinks(
        ["http://127.0.0.1:8089/hook", "https://192.168.1.10/hook", "https://[fd12::1]/hook"],
        ["127.0.0.1:8089", "192.168.0.0/16", "[fd12::1]"],
      ),
    );
    expect(result.ok).toBe(true);
  });

  it("refuses an allow-list entry it cannot read, by its index", () => {
    const result = validate(
      remoteConfigSchema,
      withSinks([], ["127.0.0.1:8089", "http://hooks.example/"]),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.path)).toEqual(["notifications.allowedDestinations[1]"]);
  });

  it("keeps the allow list (not a secret) when secrets are redacted", () => {
    const config = remoteConfigSchema.parse(
      withSinks(["http://127.0.0.1:8089/hook"], ["127.0.0.1:8089"]),
    );
    expect(redactSecrets(config).notifications).toEqual({
      allowedDestinations: ["127.0.0.1:8089"],
      sinks: [expect.objectContaining({ url: "[redacted]" })],
      link: { presignExpiryS: 86_400, consoleUrlTemplate: null },
    });
  });
});
