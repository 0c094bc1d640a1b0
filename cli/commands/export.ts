import { parseArgs } from "node:util";

import { findCaptureCustody } from "../../src/audit/query.ts";
import type { TrustedCustody } from "../../src/evidence/export.ts";
import { PodmortemError } from "../../src/errors.ts";
import type { CaptureWorkflow } from "../../workflows/capture.workflow.ts";
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  callRestate,
  connectionFrom,
} from "../connection.ts";
import { runExport } from "../evidence-export.ts";
import type { ExitCode } from "../exit-codes.ts";
import type { Command } from "../main.ts";

type Connection = ReturnType<typeof connectionFrom>;

/**
 * The custody hash and location, from a record kept apart from the bundle: the Capture
 * workflow's status while Restate keeps it, then the capture's `capture.finished` audit entry.
 */
async function trustedCustodyOf(
  connection: Connection,
  captureId: string,
): Promise<TrustedCustody> {
  const status = await callRestate(
    connection.ingress.workflowClient<CaptureWorkflow>({ name: "Capture" }, captureId).status(),
    connection.ingressUrl,
  );
  if (status?.evidence)
    return {
      uri: status.evidence.custodyUri,
      sha256: status.evidence.custodySha256,
      logSha256: status.evidence.logSha256 ?? undefined,
      source: "the capture's status in Restate",
    };
  if (status)
    throw new PodmortemError("INPUT_INVALID", `capture ${captureId} has no sealed evidence`);
  const record = await findCaptureCustody(connection.admin, connection.cluster, captureId);
  if (!record)
    throw new PodmortemError(
      "INPUT_INVALID",
      `capture ${captureId} is neither in Restate nor in the audit log of cluster ${connection.cluster} (--cluster)`,
    );
  if (record.problem)
    throw new PodmortemError(
      "VERIFICATION_FAILED",
      `the audit log this export would trust does not hold: ${record.problem}`,
    );
  return {
    uri: record.custody.uri,
    sha256: record.custody.sha256,
    logSha256: record.logSha256,
    source: `audit log entry ${record.entry.seq} (capture.finished)`,
  };
}

export const exportCommand: Command = {
  summary:
    "Download a capture's evidence by capture id and verify every hash against its chain of custody.",
  usage: [
    "podmortem export CAPTURE_ID [--out DIR] [--progress] [--json]",
    CONNECTION_USAGE,
    "  custody.json is checked against the hash the capture recorded (its status in Restate, or its",
    "  capture.finished audit entry once Restate has dropped the status) before anything it lists is",
    "  fetched; only files in its own folder are fetched, only inside --out written; exit 5 at the",
    "  first mismatch; progress goes to stderr on a terminal (--progress: also when stderr is a log)",
  ].join("\n"),
  async run(args): Promise<ExitCode> {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...CONNECTION_OPTIONS,
        out: { type: "string" },
        progress: { type: "boolean", default: false },
      },
    });
    const captureId = positionals[0];
    if (!captureId)
      throw new PodmortemError(
        "INPUT_INVALID",
        "name a capture id (podmortem audit --kind capture.finished lists them)",
      );
    const trusted = await trustedCustodyOf(connectionFrom(values), captureId);
    return runExport(trusted, {
      out: values.out ?? `./${captureId}`,
      json: values.json,
      progress: values.progress,
    });
  },
};
