import { parseArgs } from "node:util";

import { PodmortemError } from "../../src/errors.ts";
import { queryRestate } from "../../src/restate/admin.ts";
import type { IncidentState } from "../../workflows/incident.object.ts";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connectionFrom, table } from "../connection.ts";
import { EXIT, type ExitCode } from "../exit-codes.ts";
import type { Command } from "../main.ts";

const DEFAULT_LIMIT = 100;
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export type IncidentRow = {
  namespace: string;
  workload: string;
  container: string;
  reason: string;
  exitCode: number | null;
  count: number;
  firstSeen: string;
  lastSeen: string;
  lastCapture: string | null;
  headline: string | null;
  signature: string;
};

/** A duration back from now (30m, 6h, 7d) or an ISO time. */
function sinceFrom(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const relative = /^(\d+)([smhd])$/.exec(value);
  if (relative) {
    const unitMs = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as "s"];
    return now - Number(relative[1]) * unitMs;
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new PodmortemError(
      "INPUT_INVALID",
      `--since: "${value}" is neither a duration like 6h nor a date`,
    );
  return ms;
}

const quoteSql = (value: string) => `'${value.replaceAll("'", "''")}'`;

export const incidentsCommand: Command = {
  summary:
    "List incidents (one per unique failure) with their counts and the last capture's headline.",
  usage: [
    "podmortem incidents [--namespace NS] [--since D] [--limit N] [--json]",
    "  D is a duration back from now (30m, 6h, 7d) or an ISO time; newest last seen first, at most N (100)",
    CONNECTION_USAGE,
    "  exit codes: 0 listed (also when none match), 2 usage, 3 invalid flag, 4 Restate unavailable",
  ].join("\n"),
  async run(args): Promise<ExitCode> {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...CONNECTION_OPTIONS,
        namespace: { type: "string" },
        since: { type: "string" },
        limit: { type: "string" },
      },
    });
    if (positionals.length > 0) {
      process.stderr.write(
        `podmortem incidents: unexpected ${positionals.join(" ")}; try --help\n`,
      );
      return EXIT.usage;
    }
    if (values.namespace !== undefined && !NAME.test(values.namespace))
      throw new PodmortemError(
        "INPUT_INVALID",
        `--namespace: "${values.namespace}" is not a namespace name`,
      );
    const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new PodmortemError(
        "INPUT_INVALID",
        `--limit: "${values.limit}" is not a positive whole number`,
      );
    const since = sinceFrom(values.since);
    const { admin, cluster } = connectionFrom(values);

    const incidents = (
      await queryRestate<{ value_utf8: string }>(
        admin,
        `SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND key = 'incident' AND service_key LIKE ${quoteSql(`${cluster}:%`)}`,
      )
    )
      .map((row) => JSON.parse(row.value_utf8) as IncidentState)
      .filter((i) => values.namespace === undefined || i.namespace === values.namespace)
      .filter((i) => since === undefined || Date.parse(i.lastSeenAt) >= since)
      .sort((a, b) => Date.parse(b.lastSeenAt) - Date.parse(a.lastSeenAt))
      .slice(0, limit);

    const captureIds = incidents.flatMap((i) => (i.lastCaptureId ? [i.lastCaptureId] : []));
    const headlines = new Map<string, string>();
    if (captureIds.length > 0) {
      const rows = await queryRestate<{ service_key: string; value_utf8: string }>(
        admin,
        `SELECT service_key, value_utf8 FROM state WHERE service_name = 'Capture' AND key = 'status' AND service_key IN (${captureIds.map(quoteSql).join(", ")})`,
      );
      for (const row of rows) {
        const status = JSON.parse(row.value_utf8) as { headline?: string };
        if (status.headline) headlines.set(row.service_key, status.headline);
      }
    }
    const rows: IncidentRow[] = incidents.map((i) => ({
      namespace: i.namespace,
      workload: `${i.workload.kind}/${i.workload.name}`,
      container: i.container,
      reason: i.reason,
      exitCode: i.exitCode,
      count: i.occurrences,
      firstSeen: i.firstSeenAt,
      lastSeen: i.lastSeenAt,
      lastCapture: i.lastCaptureId,
      headline: i.lastCaptureId ? (headlines.get(i.lastCaptureId) ?? null) : null,
      signature: i.signature,
    }));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return EXIT.ok;
    }
    if (rows.length === 0) {
      process.stdout.write(
        `no incidents in cluster ${cluster}${values.namespace ? ` namespace ${values.namespace}` : ""}${values.since ? ` since ${values.since}` : ""}\n`,
      );
      return EXIT.ok;
    }
    const short = (text: string | null, max: number) =>
      !text ? "-" : text.length > max ? `${text.slice(0, max - 1)}…` : text;
    process.stdout.write(
      table(
        [
          "NAMESPACE",
          "WORKLOAD",
          "CONTAINER",
          "REASON",
          "COUNT",
          "FIRST SEEN",
          "LAST SEEN",
          "LAST CAPTURE",
          "HEADLINE",
        ],
        rows.map((r) => [
          r.namespace,
          r.workload,
          r.container,
          r.exitCode !== null ? `${r.reason} (${r.exitCode})` : r.reason,
          String(r.count),
          r.firstSeen,
          r.lastSeen,
          r.lastCapture ?? "-",
          short(r.headline, 120),
        ]),
      ),
    );
    return EXIT.ok;
  },
};
