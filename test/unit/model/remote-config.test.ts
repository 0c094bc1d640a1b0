import { describe, expect, it } from "vitest";

import {
  DEFAULT_REASONS,
  defaultRemoteConfig,
  remoteConfigSchema,
  toWatcherConfig,
} from "../../../src/model/remote-config.ts";
import { validate } from "../../../src/model/validation.ts";

describe("remoteConfigSchema", () => {
  it("fills every default from an empty document", () => {
    const config = defaultRemoteConfig();
    expect(config.detection.reasons).toEqual([...DEFAULT_REASONS]);
    expect(config.capture.rateLimitWindowS).toBe(3600);
    expect(config.capture.steps.checkpoint).toBe(false);
    expect(config.capture.steps.restartAfterSalvage).toBe(false);
    expect(config.namespaces.mode).toBe("all");
  });

  it("lists every bad field with its path", () => {
    const result = validate(remoteConfigSchema, {
      batch: { maxEvents: 0 },
      namespaces: { mode: "label" },
      notifications: { sinks: [{ name: "ops", type: "webhook" }] },
      captur: {},
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const paths = result.problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "batch.maxEvents",
        "namespaces.selector",
        "notifications.sinks[0].url",
        "(root)",
      ]),
    );
  });

  it("refuses two sinks of one name", () => {
    const sink = { name: "ops", type: "slack", url: "https://hooks.example/x" };
    const result = validate(remoteConfigSchema, { notifications: { sinks: [sink, sink] } });
    expect(result.ok).toBe(false);
  });

  it("gives the watcher no notification sinks, so no secret can reach it", () => {
    const config = remoteConfigSchema.parse({
      notifications: {
        sinks: [{ name: "ops", type: "webhook", url: "https://hooks.example/secret-token" }],
      },
    });
    expect(JSON.stringify(toWatcherConfig(config))).not.toContain("secret-token");
  });
});
