import { parseArgs } from "node:util";

import { verifyChain } from "../../src/audit/chain.ts";
import { queryAudit } from "../../src/audit/query.ts";
import { PodmortemError } from "../../src/errors.ts";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connectionFrom, table } from "../connection.ts";
import { EXIT, type ExitCode } from "../exit-codes.ts";
import type { Command } from "../main.ts";

function parseTime(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const relative = value.match(/^(\d+)([smhd])$/);
  if (relative) {
    const unitMs = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
      relative[2] as "s" | "m" | "h" | "d"
    ];
    return new Date(Date.now() - Number(relative[1]) * unitMs);
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new PodmortemError(
      "INPUT_INVALID",
      `--${flag}: "${value}" is neither a date nor a duration like 30m`,
    );
  return date;
}

export const auditCommand: Command = {
  summary: "Query the backend's tamper-evident audit log, or verify its SHA-256 chain end to end.",
  usage: [
    "podmortem audit [--namespace NS] [--pod POD] [--signature SIG] [--kind KIND] [--since T] [--until T] [--limit N] [--json]",
    "podmortem audit verify [--json]",
    "  T is an ISO time or a duration back from now (30m, 6h, 7d); kinds: incident.seen, capture.started,",
    "  capture.finished, config.changed",
    CONNECTION_USAGE,
    "  verify exits 5 and names the first broken entry when the chain does not hold",
  ].join("\n"),
  async run(args): Promise<ExitCode> {
    const verifying = args[0] === "verify";
    const { values } = parseArgs({
      args: verifying ? args.slice(1) : args,
      options: {
        ...CONNECTION_OPTIONS,
        namespace: { type: "string" },
        pod: { type: "string" },
        signature: { type: "string" },
        kind: { type: "string" },
        since: { type: "string" },
        until: { type: "string" },
        limit: { type: "string" },
      },
    });
    const { admin, cluster } = connectionFrom(values);
    const out = (text: string) => process.stdout.write(text);
    if (verifying) {
      const verdict = verifyChain(await queryAudit(admin, { cluster }));
      if (values.json) out(`${JSON.stringify(verdict)}\n`);
      else if (verdict.ok)
        out(`audit chain of ${cluster} holds: ${verdict.entries} entries, head ${verdict.head}\n`);
      else
        out(
          `audit chain of ${cluster} is BROKEN at entry ${verdict.brokenAt}: ${verdict.problem}\n`,
        );
      return verdict.ok ? EXIT.ok : EXIT.verificationFailed;
    }
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit <= 0))
      throw new PodmortemError("INPUT_INVALID", "--limit must be a positive whole number");
    const entries = await queryAudit(admin, {
      cluster,
      namespace: values.namespace,
      pod: values.pod,
      signature: values.signature,
      kind: values.kind,
      since: parseTime("since", values.since),
      until: parseTime("until", values.until),
      limit,
    });
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
          JSON.stringify(e.detail).slice(0, 80),
        ]),
      ),
    );
    return EXIT.ok;
  },
};
