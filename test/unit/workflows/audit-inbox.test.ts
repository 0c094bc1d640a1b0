import { describe, expect, it } from "vitest";

import type { AuditRecord } from "../../../src/audit/chain.ts";
import { AUDIT_INBOX_SHARDS, auditInboxKey } from "../../../workflows/audit-inbox.object.ts";

function record(overrides: Partial<AuditRecord>): AuditRecord {
  return {
    kind: "incident.seen",
    cluster: "prod",
    namespace: "shop",
    pod: "checkout-1",
    signature: "a".repeat(64),
    captureId: null,
    detail: {},
    ...overrides,
  };
}

describe("which inbox a record goes to", () => {
  it("sends every record of one signature to one inbox, whatever else differs", () => {
    const seen = auditInboxKey(record({ kind: "incident.seen", pod: "checkout-1" }));
    const finished = auditInboxKey(
      record({ kind: "capture.finished", pod: "checkout-2", captureId: "pm-1" }),
    );
    expect(finished).toBe(seen);
    expect(seen).toMatch(/^prod\/\d+$/);
  });

  it("spreads signatures over every inbox of the cluster", () => {
    const keys = new Set(
      Array.from({ length: 500 }, (_, i) =>
        auditInboxKey(record({ signature: i.toString(16).padStart(64, "0") })),
      ),
    );
    expect(keys.size).toBe(AUDIT_INBOX_SHARDS);
    for (const key of keys) {
      const shard = Number(key.slice("prod/".length));
      expect(shard).toBeGreaterThanOrEqual(0);
      expect(shard).toBeLessThan(AUDIT_INBOX_SHARDS);
    }
  });

  it("keys a record without a signature by its capture, then its pod, then its kind", () => {
    const byCapture = record({ signature: null, captureId: "pm-7", pod: null });
    expect(auditInboxKey(byCapture)).toBe(
      auditInboxKey(record({ signature: null, captureId: "pm-7", pod: "other" })),
    );
    const config = record({ kind: "config.changed", signature: null, pod: null });
    expect(auditInboxKey(config)).toBe(
      auditInboxKey(
        record({ kind: "config.changed", signature: null, pod: null, detail: { v: 2 } }),
      ),
    );
  });

  it("keeps the cluster whole in the key, slashes and all", () => {
    expect(auditInboxKey(record({ cluster: "eu/west" }))).toMatch(/^eu\/west\/\d+$/);
  });
});
