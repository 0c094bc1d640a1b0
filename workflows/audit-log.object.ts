import * as restate from "@restatedev/restate-sdk";

import { GENESIS_HASH, sealEntry, type AuditEntry, type AuditRecord } from "../src/audit/chain.ts";

type Head = { seq: number; hash: string };

export function auditEntryKey(seq: number): string {
  return `entry:${String(seq).padStart(12, "0")}`;
}

/**
 * The backend's tamper-evident audit log, one per cluster: every entry a state key of its own
 * (lazy state, so an append reads only the head, however long the log), chained by SHA-256.
 */
export const AuditLog = restate.object({
  name: "AuditLog",
  handlers: {
    append: async (
      ctx: restate.ObjectContext,
      record: AuditRecord,
    ): Promise<{ seq: number; hash: string }> => {
      const head = (await ctx.get<Head>("head")) ?? { seq: 0, hash: GENESIS_HASH };
      const at = new Date(await ctx.date.now()).toISOString();
      const entry = sealEntry(record, head.seq + 1, at, head.hash);
      ctx.set(auditEntryKey(entry.seq), entry);
      ctx.set<Head>("head", { seq: entry.seq, hash: entry.hash });
      return { seq: entry.seq, hash: entry.hash };
    },
    head: restate.handlers.object.shared(
      async (ctx: restate.ObjectSharedContext) =>
        (await ctx.get<Head>("head")) ?? { seq: 0, hash: GENESIS_HASH },
    ),
  },
  options: { enableLazyState: true },
});

export type AuditLogObject = typeof AuditLog;
export type { AuditEntry };
