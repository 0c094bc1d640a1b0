import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";

import { remoteConfigSchema } from "../../../src/model/remote-config.ts";
import {
  createSealer,
  isSealed,
  parseSecretsKey,
} from "../../../src/notifications/sealed-secret.ts";

describe("sealed sink secrets", () => {
  const sealer = createSealer(randomBytes(32));

  it("opens what it sealed, and a sealed URL still validates as a sink URL", () => {
    const url = "https://hooks.example.com/services/T000/very-secret";
    const sealed = sealer.sealUrl(url);
    expect(sealed).not.toContain("very-secret");
    expect(isSealed(sealed)).toBe(true);
    expect(sealer.open(sealed)).toBe(url);
    expect(sealer.sealUrl(sealed)).toBe(sealed);
    const config = remoteConfigSchema.parse({
      notifications: {
        sinks: [
          { name: "a", type: "webhook", url: sealed, hmacSecret: sealer.sealText("k".repeat(20)) },
        ],
      },
    });
    expect(sealer.open(config.notifications.sinks[0]!.hmacSecret!)).toBe("k".repeat(20));
  });

  it("refuses to open with another key, and a key of the wrong size", () => {
    const other = createSealer(randomBytes(32));
    expect(() => other.open(sealer.sealText("x".repeat(16)))).toThrow(/does not open/);
    expect(() => parseSecretsKey(randomBytes(16).toString("base64"))).toThrow(/32 bytes/);
  });
});
