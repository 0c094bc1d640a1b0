import { describe, expect, it } from "vitest";

import { parseAnchor, parseTime, summarize } from "../../../cli/commands/audit.ts";

describe("audit flags", () => {
  const now = Date.parse("2026-11-22T12:00:00Z");

  it("reads --since/--until as an ISO time or a duration back from now", () => {
    expect(parseTime("since", undefined, now)).toBeUndefined();
    expect(parseTime("since", "30m", now)?.toISOString()).toBe("2026-11-22T11:30:00.000Z");
    expect(parseTime("since", "6h", now)?.toISOString()).toBe("2026-11-22T06:00:00.000Z");
    expect(parseTime("since", "7d", now)?.toISOString()).toBe("2026-11-15T12:00:00.000Z");
    expect(parseTime("until", "2026-11-01T00:00:00Z", now)?.toISOString()).toBe(
      "2026-11-01T00:00:00.000Z",
    );
    expect(() => parseTime("since", "yesterday", now)).toThrow('--since: "yesterday"');
  });

  it("reads --anchor as SEQ:SHA256", () => {
    const hash = "ab".repeat(32);
    expect(parseAnchor(`12:${hash}`)).toEqual({ seq: 12, hash });
    expect(() => parseAnchor(hash)).toThrow("--anchor");
    expect(() => parseAnchor("12:abc")).toThrow("--anchor");
  });

  it("summarises each kind in one line for the table", () => {
    expect(
      summarize({
        kind: "capture.requested",
        detail: {
          requestId: "a".repeat(32),
          requestedBy: "alice",
          identitySource: "SelfSubjectReview",
          granted: true,
        },
      }),
    ).toBe(`granted: by alice (SelfSubjectReview), request ${"a".repeat(32)}`);
    expect(
      summarize({
        kind: "incident.seen",
        detail: { container: "app", reason: "OOMKilled", exitCode: 137, occurrences: 3 },
      }),
    ).toBe("app: OOMKilled (exit 137), occurrence 3");
    expect(
      summarize({
        kind: "capture.finished",
        detail: {
          outcome: "partial",
          artifacts: [{}, {}],
          custody: { sha256: "ab".repeat(32) },
          failedSteps: ["snapshots"],
        },
      }),
    ).toBe("partial, 2 artifacts, custody abababababab…, failed: snapshots");
    expect(
      summarize({
        kind: "config.changed",
        detail: { version: 4, author: "alice", changes: [{ path: "dedup.cooldownS" }] },
      }),
    ).toBe("version 4 by alice: dedup.cooldownS");
    expect(
      summarize({
        kind: "notification.failed",
        detail: { sink: "ops", event: "captured", result: "sink ops answered 404" },
      }),
    ).toBe("ops captured: sink ops answered 404");
    expect(
      summarize({ kind: "notification.delivered", detail: { result: "x".repeat(200) } }, 20),
    ).toHaveLength(20);
  });
});
