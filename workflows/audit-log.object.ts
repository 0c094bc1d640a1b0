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
 * The backend's tamper-evident audit log, one per cluster: every entry a state key of its own
 * (lazy state, so an append reads only the head, however long the log), chained by SHA-256.
 * Retention removes the oldest entry once the log is full and keeps that entry's hash as the
 * `base` the kept chain starts from (inside the `head` key).
 */
export function createAuditLogObject(options: { retentionEntries?: number } = {}) {
  const retention = Math.max(1, options.retentionEntries ?? AUDIT_RETENTION_ENTRIES);
  return restate.object({
    name: "AuditLog",
    handlers: {
      // Only the backend appends: an entry sent from outside would chain as well as a real one.
      append: restate.handlers.object.exclusive(
        { ingressPrivate: true },
        async (ctx: restate.ObjectContext, record: AuditRecord): Promise<ChainMark> => {
          // One key holds the head and where retention left the start: one read per append.
          const marks = (await ctx.get<Head>("head")) ?? { ...GENESIS, base: GENESIS };
          let base = marks.base ?? GENESIS;
          const at = new Date(await ctx.date.now()).toISOString();
          const entry = sealEntry(record, marks.seq + 1, at, marks.hash);
          ctx.set(auditEntryKey(entry.seq), entry);
          // A few at a time, so a lowered retention converges without one huge invocation.
          for (let removed = 0; entry.seq - base.seq > retention && removed < 8; removed++) {
            const key = auditEntryKey(base.seq + 1);
            const oldest = await ctx.get<AuditEntry>(key);
            ctx.clear(key);
            base = { seq: base.seq + 1, hash: oldest?.hash ?? base.hash };
          }
          ctx.set<Head>("head", { seq: entry.seq, hash: entry.hash, base });
          return { seq: entry.seq, hash: entry.hash };
        },
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
