import { createHash } from "node:crypto";

export const GENESIS_HASH = "0".repeat(64);

export const AUDIT_KINDS = [
  "incident.seen",
  "capture.started",
  "capture.finished",
  "config.changed",
  "notification.delivered",
  "notification.failed",
] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export type AuditRecord = {
  kind: AuditKind;
  cluster: string;
  namespace: string | null;
  pod: string | null;
  signature: string | null;
  captureId: string | null;
  detail: Record<string, unknown>;
};

export type AuditEntry = AuditRecord & { seq: number; at: string; prevHash: string; hash: string };

/** JSON with object keys sorted at every level, so a hash does not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Each entry's hash covers its content and the previous entry's hash: a chain. */
export function entryHash(entry: Omit<AuditEntry, "hash">): string {
  return createHash("sha256").update(canonicalJson(entry)).digest("hex");
}

export function sealEntry(
  record: AuditRecord,
  seq: number,
  at: string,
  prevHash: string,
): AuditEntry {
  const unsealed = { ...record, seq, at, prevHash };
  return { ...unsealed, hash: entryHash(unsealed) };
}

export type ChainVerdict =
  | { ok: true; entries: number; head: string }
  | { ok: false; entries: number; brokenAt: number; problem: string };

/** Walks the chain from the first entry; names the first entry that does not hold. */
export function verifyChain(entries: readonly AuditEntry[]): ChainVerdict {
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1;
  for (const entry of entries) {
    if (entry.seq !== expectedSeq) {
      return {
        ok: false,
        entries: entries.length,
        brokenAt: expectedSeq,
        problem: `entry ${expectedSeq} is missing (found ${entry.seq})`,
      };
    }
    if (entry.prevHash !== prevHash) {
      return {
        ok: false,
        entries: entries.length,
        brokenAt: entry.seq,
        problem: `entry ${entry.seq} does not link to entry ${entry.seq - 1}`,
      };
    }
    const { hash, ...unsealed } = entry;
    if (entryHash(unsealed) !== hash) {
      return {
        ok: false,
        entries: entries.length,
        brokenAt: entry.seq,
        problem: `entry ${entry.seq} was modified: its content does not match its hash`,
      };
    }
    prevHash = hash;
    expectedSeq += 1;
  }
  return { ok: true, entries: entries.length, head: prevHash };
}
