import { queryRestate, type AdminSettings } from "../restate/admin.ts";
import type { AuditEntry } from "./chain.ts";

export type AuditFilter = {
  cluster: string;
  namespace?: string | undefined;
  pod?: string | undefined;
  signature?: string | undefined;
  kind?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  limit?: number | undefined;
};

const sqlString = (value: string) => `'${value.replaceAll("'", "''")}'`;
/** A LIKE pattern matching `"field":"value"` inside the stored JSON, as a cheap pre-filter. */
const jsonField = (field: string, value: string) =>
  `value_utf8 LIKE ${sqlString(`%"${field}":${JSON.stringify(value).replaceAll("%", "\\%").replaceAll("_", "\\_")}%`)}`;

/**
 * Entries from Restate's state table through the admin API's SQL: filtered in SQL where a
 * pattern can, then exactly here, oldest first. Reading a whole chain for `verify` is the
 * same call without filters.
 */
export async function queryAudit(admin: AdminSettings, filter: AuditFilter): Promise<AuditEntry[]> {
  const where = [
    "service_name = 'AuditLog'",
    `service_key = ${sqlString(filter.cluster)}`,
    "key LIKE 'entry:%'",
    ...(filter.namespace ? [jsonField("namespace", filter.namespace)] : []),
    ...(filter.pod ? [jsonField("pod", filter.pod)] : []),
    ...(filter.signature ? [jsonField("signature", filter.signature)] : []),
    ...(filter.kind ? [jsonField("kind", filter.kind)] : []),
  ];
  const rows = await queryRestate<{ key: string; value_utf8: string }>(
    admin,
    `SELECT key, value_utf8 FROM state WHERE ${where.join(" AND ")} ORDER BY key`,
  );
  const entries = rows
    .map((row) => JSON.parse(row.value_utf8) as AuditEntry)
    .filter(
      (entry) =>
        (!filter.namespace || entry.namespace === filter.namespace) &&
        (!filter.pod || entry.pod === filter.pod) &&
        (!filter.signature || entry.signature === filter.signature) &&
        (!filter.kind || entry.kind === filter.kind) &&
        (!filter.since || Date.parse(entry.at) >= filter.since.getTime()) &&
        (!filter.until || Date.parse(entry.at) <= filter.until.getTime()),
    );
  return filter.limit ? entries.slice(-filter.limit) : entries;
}
