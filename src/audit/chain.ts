import { createHash } from "node:crypto";

export const GENESIS_HASH = "0".repeat(64);

export const AUDIT_KINDS = [
  "incident.seen",
  "capture.requested",
  "capture.started",
  "capture.finished",
  "config.changed",
  "notification.delivered",
  "notification.failed",
  "events.refused",
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

/** Where a chain starts: the genesis, or the last entry that retention removed. */
export type ChainMark = { seq: number; hash: string };
export const GENESIS: ChainMark = { seq: 0, hash: GENESIS_HASH };

/** Zero-padded, so Restate's SQL orders the keys as it orders the entries. */
export function auditEntryKey(seq: number): string {
  return `entry:${String(seq).padStart(12, "0")}`;
}

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
  // seq and at first: the stored JSON is then cheap to range-filter by time in Restate's SQL.
  const unsealed = { seq, at, ...record, prevHash };
  return { ...unsealed, hash: entryHash(unsealed) };
}

export type ChainVerdict =
  | { ok: true; entries: number; first: number; head: string; pruned: number }
  | { ok: false; entries: number; brokenAt: number; problem: string };

export type ChainVerifier = {
  /** Checks the next entry; answers the problem of the first entry that does not hold. */
  add(entry: AuditEntry): { brokenAt: number; problem: string } | null;
  /** Checks what the log says its head is, and every anchor was met. */
  finish(head: ChainMark | null): ChainVerdict;
};

export type ChainVerifierOptions = {
  /** Where the kept chain starts: entries up to it were removed by retention. */
  base?: ChainMark | undefined;
  /** Hashes written down earlier (`seq:hash`): a chain rewritten from scratch fails on them. */
  anchors?: readonly ChainMark[] | undefined;
};

/** Verifies a chain one entry at a time, so a long log is read in pages in constant memory. */
export function createChainVerifier(options: ChainVerifierOptions = {}): ChainVerifier {
  const base = options.base ?? GENESIS;
  const anchors = new Map(
    (options.anchors ?? []).filter((a) => a.seq > base.seq).map((a) => [a.seq, a.hash]),
  );
  let last: ChainMark = base;
  let entries = 0;
  let broken: { brokenAt: number; problem: string } | null = null;
  const fail = (brokenAt: number, problem: string) => (broken = { brokenAt, problem });

  return {
    add(entry) {
      if (broken) return broken;
      entries += 1;
      const expectedSeq = last.seq + 1;
      if (entry.seq !== expectedSeq) {
        return fail(
          expectedSeq,
          entry.seq > expectedSeq
            ? `entry ${expectedSeq} is missing (the next kept entry is ${entry.seq})`
            : `entry ${entry.seq} appears out of order after entry ${last.seq}`,
        );
      }
      if (entry.prevHash !== last.hash) {
        return fail(entry.seq, `entry ${entry.seq} does not link to entry ${last.seq}`);
      }
      const { hash, ...unsealed } = entry;
      if (entryHash(unsealed) !== hash) {
        return fail(
          entry.seq,
          `entry ${entry.seq} was modified: its content does not match its hash`,
        );
      }
      const anchored = anchors.get(entry.seq);
      if (anchored !== undefined && anchored !== hash) {
        return fail(
          entry.seq,
          `entry ${entry.seq} does not have the anchored hash ${anchored}: the chain was rewritten`,
        );
      }
      anchors.delete(entry.seq);
      last = { seq: entry.seq, hash };
      return null;
    },
    finish(head) {
      const verdict = (brokenAt: number, problem: string): ChainVerdict => ({
        ok: false,
        entries,
        brokenAt,
        problem,
      });
      if (broken) return verdict(broken.brokenAt, broken.problem);
      if (head && head.seq > last.seq) {
        return verdict(
          last.seq + 1,
          `entries ${last.seq + 1}..${head.seq} are missing: the log's head is entry ${head.seq}`,
        );
      }
      if (head && head.seq === last.seq && head.hash !== last.hash) {
        return verdict(last.seq, `entry ${last.seq} is not the head the log recorded`);
      }
      if (!head && last.seq > base.seq) {
        return verdict(last.seq, "the log's head record is missing");
      }
      const [unmet] = anchors.keys();
      if (unmet !== undefined)
        return verdict(unmet, `entry ${unmet} (an anchor) is not in the log`);
      return { ok: true, entries, first: base.seq + 1, head: last.hash, pruned: base.seq };
    },
  };
}

/** Walks a whole chain held in memory; names the first entry that does not hold. */
export function verifyChain(
  entries: readonly AuditEntry[],
  options: ChainVerifierOptions & { head?: ChainMark | null } = {},
): ChainVerdict {
  const verifier = createChainVerifier(options);
  for (const entry of entries) if (verifier.add(entry)) break;
  const last = entries.at(-1);
  const head =
    options.head === undefined ? (last ? { seq: last.seq, hash: last.hash } : null) : options.head;
  return verifier.finish(head);
}
