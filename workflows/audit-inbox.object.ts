import { createHash } from "node:crypto";

import * as restate from "@restatedev/restate-sdk";

import type { AuditRecord } from "../src/audit/chain.ts";
import type { AuditLogObject } from "./audit-log.object.ts";

/** Inboxes per cluster: a cluster's appends run on this many keys at once. */
export const AUDIT_INBOX_SHARDS = 32;
/** What one flush hands the chain at most; the rest waits for the next flush. */
export const AUDIT_BATCH_MAX_RECORDS = 256;
export const AUDIT_BATCH_MAX_BYTES = 4 * 1024 * 1024;

/** Records `first` up to (not including) `next` are waiting, one state key each. */
type Window = { first: number; next: number };

const pendingKey = (n: number) => `pending:${String(n).padStart(12, "0")}`;

/**
 * Records about one incident, capture or pod share an inbox, which hands them to the chain in
 * the order it took them: a capture's start is never sealed after its end.
 */
export function auditInboxKey(record: AuditRecord, shards = AUDIT_INBOX_SHARDS): string {
  const by = record.signature ?? record.captureId ?? record.pod ?? record.kind;
  const shard = createHash("sha256").update(by).digest().readUInt32BE(0) % shards;
  return `${record.cluster}/${shard}`;
}

const clusterOf = (inboxKey: string) => inboxKey.slice(0, inboxKey.lastIndexOf("/"));

/**
 * In front of each cluster's AuditLog, whose single exclusive key took one invocation an entry
 * (106–111 appends/s). Services send to one of AUDIT_INBOX_SHARDS inboxes of the cluster, which
 * run side by side; an append is one small read and two writes. The first record after a flush
 * schedules the next flush, which runs behind the appends queued before it and hands all of
 * them to the chain in one `AuditLog.appendBatch` call: batches grow with the rate. A flush
 * waits for the chain, so the chain's key is never handed more batches than it seals, and an
 * inbox clears its records only once the chain has them. Every step is journaled: a retried
 * append or flush replays its writes and its call instead of repeating them.
 */
export function createAuditInboxObject(
  options: { batchMaxRecords?: number; batchMaxBytes?: number } = {},
) {
  const maxRecords = Math.max(1, options.batchMaxRecords ?? AUDIT_BATCH_MAX_RECORDS);
  const maxBytes = options.batchMaxBytes ?? AUDIT_BATCH_MAX_BYTES;
  return restate.object({
    name: "AuditInbox",
    handlers: {
      append: restate.handlers.object.exclusive(
        { ingressPrivate: true },
        async (ctx: restate.ObjectContext, record: AuditRecord): Promise<void> => {
          const window = (await ctx.get<Window>("window")) ?? { first: 0, next: 0 };
          ctx.set(pendingKey(window.next), record);
          ctx.set<Window>("window", { first: window.first, next: window.next + 1 });
          if (window.first === window.next) {
            ctx.objectSendClient<AuditInboxObject>({ name: "AuditInbox" }, ctx.key).flush();
          }
        },
      ),
      flush: restate.handlers.object.exclusive(
        { ingressPrivate: true },
        async (ctx: restate.ObjectContext): Promise<number> => {
          const window = (await ctx.get<Window>("window")) ?? { first: 0, next: 0 };
          const records: AuditRecord[] = [];
          let bytes = 0;
          let upTo = window.first;
          const count = Math.min(window.next - window.first, maxRecords);
          // All asked for at once: one round trip, not one a record.
          const taken = await Promise.all(
            Array.from({ length: count }, (_, i) =>
              ctx.get<AuditRecord>(pendingKey(window.first + i)),
            ),
          );
          while (upTo < window.first + count) {
            const record = taken[upTo - window.first] ?? null;
            const size = record ? JSON.stringify(record).length : 0;
            if (records.length > 0 && bytes + size > maxBytes) break;
            if (record) records.push(record);
            bytes += size;
            upTo += 1;
          }
          if (records.length > 0) {
            await ctx
              .objectClient<AuditLogObject>({ name: "AuditLog" }, clusterOf(ctx.key))
              .appendBatch(records);
          }
          for (let n = window.first; n < upTo; n++) ctx.clear(pendingKey(n));
          ctx.set<Window>("window", { first: upTo, next: window.next });
          if (upTo < window.next) {
            ctx.objectSendClient<AuditInboxObject>({ name: "AuditInbox" }, ctx.key).flush();
          }
          return records.length;
        },
      ),
    },
    // Lazy: an append reads one small key, not every record waiting beside it.
    options: { enableLazyState: true },
  });
}

export const AuditInbox = createAuditInboxObject();
export type AuditInboxObject = typeof AuditInbox;

/** How every service appends to its cluster's audit log: a one-way send to an inbox. */
export function appendToAudit(ctx: restate.Context, record: AuditRecord): void {
  ctx
    .objectSendClient<AuditInboxObject>({ name: "AuditInbox" }, auditInboxKey(record))
    .append(record);
}
