import { parseArgs } from "node:util";

import { AUDIT_KINDS, type AuditEntry, type ChainMark } from "../../src/audit/chain.ts";
import { countPendingAppends, queryAudit, scanAudit, verifyAudit } from "../../src/audit/query.ts";
import { PodmortemError } from "../../src/errors.ts";
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  connectionFrom,
  requireKnownCluster,
  table,
} from "../connection.ts";
import { EXIT, type ExitCode } from "../exit-codes.ts";
import type { Command } from "../main.ts";

/** An ISO time, or a duration back from `now` such as 30m, 6h, 7d. */
export function parseTime(
  flag: string,
  value: string | undefined,
  now = Date.now(),
): Date | undefined {
  if (value === undefined) return undefined;
  const relative = value.match(/^(\d+)([smhd])$/);
  if (relative) {
    const unitMs = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
      relative[2] as "s" | "m" | "h" | "d"
    ];
    return new Date(now - Number(relative[1]) * unitMs);
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new PodmortemError(
      "INPUT_INVALID",
      `--${flag}: "${value}" is neither a date nor a duration like 30m`,
    );
  return date;
}

/** `--anchor SEQ:HASH`, a head that `audit verify` printed earlier. */
export function parseAnchor(value: string): ChainMark {
  const match = value.match(/^(\d+):([0-9a-f]{64})$/);
  if (!match)
    throw new PodmortemError(
      "INPUT_INVALID",
      `--anchor: "${value}" is not SEQ:SHA256 (as audit verify prints it)`,
    );
  return { seq: Number(match[1]), hash: match[2]! };
}

export const auditCommand: Command = {
  summary: "Query the backend's tamper-evident audit log, or verify its SHA-256 chain end to end.",
  usage: [
    "podmortem audit [--namespace NS] [--pod POD] [--signature SIG] [--kind KIND] [--since T] [--until T] [--limit N] [--json]",
    "podmortem audit verify [--anchor SEQ:SHA256 ...] [--json]",
    "  T is an ISO time or a duration back from now (30m, 6h, 7d); --limit N keeps the newest N",
    `  kinds: ${AUDIT_KINDS.join(", ")}`,
    CONNECTION_USAGE,
    "  verify exits 5 and names the first broken entry when the chain does not hold; keep the",
    "  SEQ:SHA256 it prints and pass it as --anchor later to detect a log rewritten from scratch;",
    "  it also says how many appends still wait in the cluster's inboxes, not yet sealed",
  ].join("\n"),
  async run(args): Promise<ExitCode> {
    const verifying = args[0] === "verify";
    const { values, positionals } = parseArgs({
      args: verifying ? args.slice(1) : args,
      allowPositionals: true,
      options: {
        ...CONNECTION_OPTIONS,
        namespace: { type: "string" },
        pod: { type: "string" },
        signature: { type: "string" },
        kind: { type: "string" },
        since: { type: "string" },
        until: { type: "string" },
        limit: { type: "string" },
        anchor: { type: "string", multiple: true },
      },
    });
    if (positionals.length > 0) {
      process.stderr.write(`podmortem audit: unexpected ${positionals.join(" ")}; try --help\n`);
      return EXIT.usage;
    }
    const { admin, cluster } = connectionFrom(values);
    const out = (text: string) => process.stdout.write(text);
    if (verifying) {
      const anchors = (values.anchor ?? []).map(parseAnchor);
      // An empty log for a mistyped --cluster would read as "the chain holds".
      await requireKnownCluster(admin, cluster);
      const verdict = await verifyAudit(admin, cluster, { anchors });
      const pending = await countPendingAppends(admin, cluster);
      if (values.json) out(`${JSON.stringify({ ...verdict, pending })}\n`);
      else if (verdict.ok)
        out(
          `audit chain of ${cluster} holds: ${verdict.entries} entries` +
            (verdict.pruned
              ? ` (${verdict.first}..${verdict.first + verdict.entries - 1}; 1..${verdict.pruned} removed by retention)`
              : "") +
            `, head ${verdict.first + verdict.entries - 1}:${verdict.head}` +
            (pending ? `; ${pending} appends wait in its inboxes, not yet sealed` : "") +
            "\n",
        );
      else
        out(
          `audit chain of ${cluster} is BROKEN at entry ${verdict.brokenAt}: ${verdict.problem}\n`,
        );
      return verdict.ok ? EXIT.ok : EXIT.verificationFailed;
    }
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit <= 0))
      throw new PodmortemError("INPUT_INVALID", "--limit must be a positive whole number");
    if (values.kind !== undefined && !(AUDIT_KINDS as readonly string[]).includes(values.kind))
      throw new PodmortemError(
        "INPUT_INVALID",
        `--kind: "${values.kind}" is not one of ${AUDIT_KINDS.join(", ")}`,
      );
    const filter = {
      cluster,
      namespace: values.namespace,
      pod: values.pod,
      signature: values.signature,
      kind: values.kind,
      since: parseTime("since", values.since),
      until: parseTime("until", values.until),
      limit,
    };
    // An empty answer for a mistyped --cluster would read as "nothing happened".
    await requireKnownCluster(admin, cluster);
    if (values.json && limit === undefined) {
      // A whole log can be long: written a page at a time, never held here.
      let first = true;
      out("[");
      for await (const entry of scanAudit(admin, filter)) {
        out(`${first ? "\n" : ",\n"}${JSON.stringify(entry)}`);
        first = false;
      }
      out(first ? "]\n" : "\n]\n");
      return EXIT.ok;
    }
    const entries = await queryAudit(admin, filter);
    if (values.json) {
      out(`${JSON.stringify(entries, null, 2)}\n`);
      return EXIT.ok;
    }
    out(
      table(
        ["SEQ", "AT", "KIND", "POD", "CAPTURE", "DETAIL"],
        entries.map((e) => [
          String(e.seq),
          e.at,
          e.kind,
          e.namespace && e.pod ? `${e.namespace}/${e.pod}` : "-",
          e.captureId ?? "-",
          summarize(e),
        ]),
      ),
    );
    return EXIT.ok;
  },
};

/** One short line for the table, by kind; --json has everything. */
export function summarize(entry: Pick<AuditEntry, "kind" | "detail">, width = 80): string {
  const d = entry.detail as Record<string, unknown> & {
    artifacts?: unknown[];
    failedSteps?: string[];
    custody?: { sha256?: string } | null;
    changes?: Array<{ path: string }>;
    exitCode?: number | null;
    granted?: boolean;
  };
  const text = (() => {
    switch (entry.kind) {
      case "incident.seen":
        return `${String(d.container)}: ${String(d.reason)}${d.exitCode === null || d.exitCode === undefined ? "" : ` (exit ${String(d.exitCode)})`}, occurrence ${String(d.occurrences)}`;
      case "capture.requested":
        return `${d.granted === true ? "granted" : "refused"}: by ${String(d.requestedBy)} (${String(d.identitySource)}), request ${String(d.requestId)}`;
      case "capture.started":
        return "-";
      case "capture.finished":
        return [
          String(d.outcome),
          `${d.artifacts?.length ?? 0} artifacts`,
          d.custody?.sha256 ? `custody ${d.custody.sha256.slice(0, 12)}…` : "no custody",
          d.failedSteps?.length ? `failed: ${d.failedSteps.join(", ")}` : "",
        ]
          .filter(Boolean)
          .join(", ");
      case "config.changed":
        return `version ${String(d.version)} by ${String(d.author)}: ${(d.changes ?? []).map((c) => c.path).join(", ") || "no change"}`;
      case "notification.delivered":
      case "notification.failed":
        return `${String(d.sink)} ${String(d.event)}: ${String(d.result)}`;
      default:
        return JSON.stringify(d);
    }
  })();
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}
