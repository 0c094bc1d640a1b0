import { describe, expect, it } from "vitest";

import { defaultRemoteConfig } from "../../../src/model/remote-config.ts";
import { refusalOf } from "../../../workflows/ingest.service.ts";
import { makePodEvent } from "../../fixtures/pod-events.ts";

const settings = (
  overrides: Partial<ReturnType<typeof defaultRemoteConfig>["namespaces"]> = {},
) => ({
  enrolled: true,
  rateLimitWindowS: 3600,
  namespaces: { ...defaultRemoteConfig().namespaces, ...overrides },
});

describe("refusalOf", () => {
  it("accepts an honest event of an enrolled cluster", () => {
    expect(refusalOf(makePodEvent(), settings())).toBeUndefined();
  });

  it("names why it refuses", () => {
    expect(refusalOf(makePodEvent(), { ...settings(), enrolled: false })).toBe(
      "cluster not enrolled",
    );
    expect(refusalOf(makePodEvent({ namespace: "vault" }), settings({ exclude: ["vault"] }))).toBe(
      "namespace excluded",
    );
    expect(refusalOf(makePodEvent(), settings({ mode: "list", list: ["other"] }))).toBe(
      "namespace excluded",
    );
    expect(refusalOf({ ...makePodEvent(), signature: "0".repeat(64) }, settings())).toBe(
      "signature does not match the event",
    );
    expect(refusalOf({ ...makePodEvent(), id: "0".repeat(64) }, settings())).toBe(
      "id does not match the event",
    );
  });
});
