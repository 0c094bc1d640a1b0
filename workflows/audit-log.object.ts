import * as restate from "@restatedev/restate-sdk";

import {
  auditEntryKey,
  GENESIS,
  sealEntry,
  type AuditEntry,
  type AuditRecord,
  type ChainMark,
} from "../src/audit/chain.ts";

/** Entries kept per cluster (~1 KB each); the oldest go first, the chain stays verifiable. */
export const AUDIT_RETENTION_ENTRIES = 500_000;

/** The newest entry, and `base`: the last entry retention removed (genesis while none). */
type Head = ChainMark & { base?: ChainMark };

export { auditEntryKey };

/**
 * Seals records onto the chain in the order given, all at one time: one read of the head, one
 * clock reading and one write per entry, however many records.
 */
async function sealRecords(
  ctx: restate.ObjectContext,
  records: readonly AuditRecord[],
  retention: number,
): Promise<ChainMark> {
  const marks = (await ctx.get<Head>("head")) ?? { ...GENESIS, base: GENESIS };
  if (records.length === 0) return { seq: marks.seq, hash: marks.hash };
  let base = marks.base ?? GENESIS;
  const at = new Date(await ctx.date.now()).toISOString();
  let last: ChainMark = { seq: marks.seq, hash: marks.hash };
  for (const record of records) {
    const entry = sealEntry(record, last.seq + 1, at, last.hash);
    ctx.set(auditEntryKey(entry.seq), entry);
    last = { seq: entry.seq, hash: entry.hash };
  }
  // As many of the oldest as were added, and a few more, so a lowered retention converges
  // without one huge invocation; only the last one removed is read, for its hash.
  const excess = Math.min(last.seq - base.seq - retention, records.length + 8);
  if (excess > 0) {
    const newBase = base.seq + excess;
    const kept = await ctx.get<AuditEntry>(auditEntryKey(newBase));
    for (let seq = base.seq + 1; seq <= newBase; seq++) ctx.clear(auditEntryKey(seq));
    base = { seq: newBase, hash: kept?.hash ?? base.hash };
  }
  ctx.set<Head>("head", { ...last, base });
  return last;
}

/**
 * The backend's tamper-evident audit log, one per cluster: every entry a state key of its own
 * (lazy state, so an append reads only the head, however long the log), chained by SHA-256.
 * Retention removes the oldest entry once the log is full and keeps that entry's hash as the
 * `base` the kept chain starts from (inside the `head` key). Services append through
 * `AuditInbox` (see appendToAudit), which hands the chain its records a batch at a time.
 */
export function createAuditLogObject(options: { retentionEntries?: number } = {}) {
  const retention = Math.max(1, options.retentionEntries ?? AUDIT_RETENTION_ENTRIES);
  return restate.object({
    name: "AuditLog",
    handlers: {
      // Only the backend appends: an entry sent from outside would chain as well as a real one.
      // One entry an invocation: kept for appends an earlier version queued.
      append: restate.handlers.object.exclusive(
        { ingressPrivate: true },
        async (ctx: restate.ObjectContext, record: AuditRecord): Promise<ChainMark> =>
          sealRecords(ctx, [record], retention),
      ),
      appendBatch: restate.handlers.object.exclusive(
        { ingressPrivate: true },
        async (ctx: restate.ObjectContext, records: AuditRecord[]): Promise<ChainMark> =>
          sealRecords(ctx, records, retention),
      ),
      head: restate.handlers.object.shared(
        async (ctx: restate.ObjectSharedContext): Promise<ChainMark> => {
          const head = await ctx.get<Head>("head");
          return head ? { seq: head.seq, hash: head.hash } : GENESIS;
        },
      ),
    },
    options: { enableLazyState: true },
  });
}

export const AuditLog = createAuditLogObject();
export type AuditLogObject = typeof AuditLog;
export type { AuditEntry };
