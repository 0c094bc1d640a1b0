import { PodmortemError } from "../errors.ts";
import { queryRestate, type AdminSettings } from "../restate/admin.ts";
import {
  auditEntryKey,
  createChainVerifier,
  entryHash,
  GENESIS,
  type AuditEntry,
  type ChainMark,
  type ChainVerdict,
} from "./chain.ts";

export { auditEntryKey };
export const AUDIT_SERVICE = "AuditLog";
/** Where services' appends wait to be sealed, keyed `<cluster>/<shard>`. */
export const AUDIT_INBOX_SERVICE = "AuditInbox";
export const AUDIT_PAGE_SIZE = 500;

export type AuditFilter = {
  cluster: string;
  namespace?: string | undefined;
  pod?: string | undefined;
  signature?: string | undefined;
  kind?: string | undefined;
  captureId?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** The newest N matching entries. */
  limit?: number | undefined;
};

const sqlString = (value: string) => `'${value.replaceAll("'", "''")}'`;
const likeEscape = (value: string) =>
  value.replaceAll("\\", "\\\\").replaceAll("%", "\\%").replaceAll("_", "\\_");
/** A LIKE pattern matching `"field":"value"` inside the stored JSON: a pre-filter, exact below. */
const jsonField = (field: string, value: string) =>
  `value_utf8 LIKE ${sqlString(`%"${field}":${likeEscape(JSON.stringify(value))}%`)}`;
/** The entry's own time: `seq` and `at` lead the stored JSON (see sealEntry). */
const AT_SQL = `substr(value_utf8, strpos(value_utf8, '"at":"') + 6, 24)`;

function whereClauses(filter: AuditFilter): string[] {
  return [
    `service_name = ${sqlString(AUDIT_SERVICE)}`,
    `service_key = ${sqlString(filter.cluster)}`,
    "key LIKE 'entry:%'",
    ...(filter.namespace ? [jsonField("namespace", filter.namespace)] : []),
    ...(filter.pod ? [jsonField("pod", filter.pod)] : []),
    ...(filter.signature ? [jsonField("signature", filter.signature)] : []),
    ...(filter.kind ? [jsonField("kind", filter.kind)] : []),
    ...(filter.captureId ? [jsonField("captureId", filter.captureId)] : []),
    ...(filter.since ? [`${AT_SQL} >= ${sqlString(filter.since.toISOString())}`] : []),
    ...(filter.until ? [`${AT_SQL} <= ${sqlString(filter.until.toISOString())}`] : []),
  ];
}

function matches(entry: AuditEntry, filter: AuditFilter): boolean {
  return (
    (!filter.namespace || entry.namespace === filter.namespace) &&
    (!filter.pod || entry.pod === filter.pod) &&
    (!filter.signature || entry.signature === filter.signature) &&
    (!filter.kind || entry.kind === filter.kind) &&
    (!filter.captureId || entry.captureId === filter.captureId) &&
    (!filter.since || Date.parse(entry.at) >= filter.since.getTime()) &&
    (!filter.until || Date.parse(entry.at) <= filter.until.getTime())
  );
}

function parseEntry(row: { key: string; value_utf8: string }): AuditEntry {
  try {
    return JSON.parse(row.value_utf8) as AuditEntry;
  } catch (error) {
    throw new PodmortemError("INPUT_INVALID", `audit ${row.key} is not JSON`, { cause: error });
  }
}

/**
 * Matching entries in pages through Restate's SQL, each page one query with a key cursor, so
 * neither Restate nor this process holds more than a page; newest first with `newestFirst`.
 */
export async function* scanAudit(
  admin: AdminSettings,
  filter: AuditFilter,
  options: { newestFirst?: boolean; pageSize?: number } = {},
): AsyncGenerator<AuditEntry> {
  const pageSize = options.pageSize ?? AUDIT_PAGE_SIZE;
  const order = options.newestFirst ? "DESC" : "ASC";
  let cursor: string | undefined;
  for (;;) {
    const where = whereClauses(filter);
    if (cursor) where.push(`key ${options.newestFirst ? "<" : ">"} ${sqlString(cursor)}`);
    const rows = await queryRestate<{ key: string; value_utf8: string }>(
      admin,
      `SELECT key, value_utf8 FROM state WHERE ${where.join(" AND ")} ORDER BY key ${order} LIMIT ${pageSize}`,
    );
    for (const row of rows) {
      const entry = parseEntry(row);
      if (matches(entry, filter)) yield entry;
    }
    if (rows.length < pageSize) return;
    cursor = rows.at(-1)?.key;
  }
}

/** Entries oldest first; with a limit, the newest `limit` of them (read newest first, then cut). */
export async function queryAudit(
  admin: AdminSettings,
  filter: AuditFilter,
  options: { pageSize?: number } = {},
): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  if (filter.limit) {
    for await (const entry of scanAudit(admin, filter, { ...options, newestFirst: true })) {
      entries.push(entry);
      if (entries.length >= filter.limit) break;
    }
    return entries.reverse();
  }
  for await (const entry of scanAudit(admin, filter, options)) entries.push(entry);
  return entries;
}

/** The log's own markers: its head, and where retention left its start (kept in the head). */
export async function readAuditMarks(
  admin: AdminSettings,
  cluster: string,
): Promise<{ head: ChainMark | null; base: ChainMark }> {
  const rows = await queryRestate<{ key: string; value_utf8: string }>(
    admin,
    `SELECT key, value_utf8 FROM state WHERE service_name = ${sqlString(AUDIT_SERVICE)} AND service_key = ${sqlString(cluster)} AND key = 'head'`,
  );
  const mark = (key: string) => {
    const row = rows.find((r) => r.key === key);
    return row ? (JSON.parse(row.value_utf8) as ChainMark & { base?: ChainMark }) : null;
  };
  const head = mark("head");
  const base = head?.base ?? GENESIS;
  return {
    head: head ? { seq: head.seq, hash: head.hash } : null,
    base: { seq: base.seq, hash: base.hash },
  };
}

/** Recomputes the whole chain, a page at a time; names the first entry that does not hold. */
export async function verifyAudit(
  admin: AdminSettings,
  cluster: string,
  options: { anchors?: readonly ChainMark[]; pageSize?: number } = {},
): Promise<ChainVerdict> {
  const pageSize = options.pageSize ?? AUDIT_PAGE_SIZE;
  for (let attempt = 1; ; attempt++) {
    const { head, base } = await readAuditMarks(admin, cluster);
    const verifier = createChainVerifier({ base, anchors: options.anchors });
    for await (const entry of scanAudit(admin, { cluster }, { pageSize })) {
      if (verifier.add(entry)) break;
    }
    const verdict = verifier.finish(head);
    // Retention may have moved the start while this read: read again rather than cry wolf.
    if (verdict.ok || attempt === 2) return verdict;
    if ((await readAuditMarks(admin, cluster)).base.seq === base.seq) return verdict;
  }
}

/**
 * Appends taken by the cluster's inboxes and not yet on the chain: nothing `verify` can vouch
 * for yet. Zero a moment after a storm; a number that stays up means sealing is stuck.
 */
export async function countPendingAppends(admin: AdminSettings, cluster: string): Promise<number> {
  const rows = await queryRestate<{ n: number }>(
    admin,
    `SELECT count(*) AS n FROM state WHERE service_name = ${sqlString(AUDIT_INBOX_SERVICE)} AND service_key LIKE ${sqlString(`${likeEscape(cluster)}/%`)} AND key LIKE 'pending:%'`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Entries from `fromSeq` on, oldest first, at most `count` of them: one query. */
export async function readAuditSegment(
  admin: AdminSettings,
  cluster: string,
  fromSeq: number,
  count: number,
): Promise<AuditEntry[]> {
  const rows = await queryRestate<{ key: string; value_utf8: string }>(
    admin,
    `SELECT key, value_utf8 FROM state WHERE ${whereClauses({ cluster }).join(" AND ")} AND key >= ${sqlString(auditEntryKey(fromSeq))} ORDER BY key ASC LIMIT ${count}`,
  );
  return rows.map(parseEntry);
}

export type CaptureCustodyRecord = {
  entry: AuditEntry;
  custody: { uri: string; sha256: string };
  logSha256: string | undefined;
  /** Null when the entry and the chain after it hold as far as they were checked. */
  problem: string | null;
};

/**
 * Where a capture's custody.json is and the hash it must have, from its `capture.finished`
 * entry: this outlives the Capture workflow's status, which Restate drops after its retention.
 * The entry is checked against its own hash and the chain for one page after it (to the head when
 * that is near): cheap, and a rewritten entry no longer links to the next one.
 */
export async function findCaptureCustody(
  admin: AdminSettings,
  cluster: string,
  captureId: string,
  options: { segment?: number } = {},
): Promise<CaptureCustodyRecord | undefined> {
  let found: AuditEntry | undefined;
  for await (const entry of scanAudit(
    admin,
    { cluster, kind: "capture.finished", captureId },
    { newestFirst: true },
  )) {
    found = entry;
    break;
  }
  const detail = found?.detail as
    { custody?: { uri?: unknown; sha256?: unknown } | null; artifacts?: unknown } | undefined;
  const custody = detail?.custody;
  if (!found || typeof custody?.uri !== "string" || typeof custody.sha256 !== "string")
    return undefined;
  const artifacts = Array.isArray(detail?.artifacts)
    ? (detail.artifacts as Array<{ name?: unknown; sha256?: unknown }>)
    : [];
  const crashLog = artifacts.find((a) => a.name === "crash.log")?.sha256;
  return {
    entry: found,
    custody: { uri: custody.uri, sha256: custody.sha256 },
    logSha256: typeof crashLog === "string" ? crashLog : undefined,
    problem: await checkAuditSegment(admin, cluster, found, options.segment ?? AUDIT_PAGE_SIZE),
  };
}

async function checkAuditSegment(
  admin: AdminSettings,
  cluster: string,
  entry: AuditEntry,
  count: number,
): Promise<string | null> {
  const { hash, ...unsealed } = entry;
  if (entryHash(unsealed) !== hash)
    return `audit entry ${entry.seq} was modified: its content does not match its hash`;
  const verifier = createChainVerifier({ base: { seq: entry.seq - 1, hash: entry.prevHash } });
  const segment = await readAuditSegment(admin, cluster, entry.seq, count);
  for (const next of segment) {
    const broken = verifier.add(next);
    if (broken) return `audit ${broken.problem}`;
  }
  const { head } = await readAuditMarks(admin, cluster);
  const last = segment.at(-1);
  if (head && last && head.seq === last.seq && head.hash !== last.hash)
    return `audit entry ${last.seq} is not the head the log recorded`;
  if (!head || !last || head.seq < last.seq) return "the audit log's head is missing";
  return null;
}
