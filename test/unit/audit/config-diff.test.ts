import { describe, expect, it } from "vitest";

import { diffConfigs } from "../../../src/audit/config-diff.ts";
import {
  defaultRemoteConfig,
  redactSecrets,
  remoteConfigSchema,
  type RemoteConfig,
} from "../../../src/model/remote-config.ts";

const both = (config: RemoteConfig) => ({ raw: config, redacted: redactSecrets(config) });
const withSink = (url: string) =>
  remoteConfigSchema.parse({
    notifications: { sinks: [{ name: "ops", type: "webhook", url, events: ["captured"] }] },
  });

describe("config diff", () => {
  it("lists each changed path with its old and new value", () => {
    const before = defaultRemoteConfig();
    const after = remoteConfigSchema.parse({
      dedup: { cooldownS: before.dedup.cooldownS + 60 },
      detection: { reasons: ["OOMKilled"] },
    });
    const { changes, more } = diffConfigs(both(before), both(after));
    expect(more).toBe(0);
    expect(changes).toContainEqual({
      path: "dedup.cooldownS",
      from: before.dedup.cooldownS,
      to: before.dedup.cooldownS + 60,
    });
    expect(changes).toContainEqual({
      path: "detection.reasons",
      from: before.detection.reasons,
      to: ["OOMKilled"],
    });
    expect(changes).toHaveLength(2);
  });

  it("counts a replaced secret as a change without showing either value", () => {
    const { changes } = diffConfigs(
      both(withSink("https://hooks.example.com/old-token")),
      both(withSink("https://hooks.example.com/new-token")),
    );
    expect(changes).toEqual([
      { path: "notifications.sinks[0].url", from: "[redacted]", to: "[redacted]" },
    ]);
  });

  it("shows an added sink redacted, and bounds what it keeps", () => {
    const { changes } = diffConfigs(
      both(defaultRemoteConfig()),
      both(withSink("https://x/secret")),
    );
    expect(changes).toEqual([
      {
        path: "notifications.sinks[0]",
        from: null,
        to: expect.objectContaining({ url: "[redacted]" }),
      },
    ]);
    expect(JSON.stringify(changes)).not.toContain("secret");
    const wide = diffConfigs(
      { raw: {}, redacted: {} },
      { raw: { a: 1, b: 2, c: 3 }, redacted: { a: 1, b: 2, c: 3 } },
      2,
    );
    expect(wide).toEqual({
      changes: [
        { path: "a", from: null, to: 1 },
        { path: "b", from: null, to: 2 },
      ],
      more: 1,
    });
  });
});
