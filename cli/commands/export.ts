import { parseArgs } from "node:util";

import { createUriReader, exportEvidence } from "../../src/evidence/export.ts";
import { createS3Client } from "../../src/evidence/s3-store.ts";
import { PodmortemError } from "../../src/errors.ts";
import type { CaptureWorkflow } from "../../workflows/capture.workflow.ts";
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  callRestate,
  connectionFrom,
} from "../connection.ts";
import type { ExitCode } from "../exit-codes.ts";
import type { Command } from "../main.ts";
import { progressFor } from "../progress.ts";
import { printReport } from "./forensic.ts";

export const exportCommand: Command = {
  summary:
    "Download a capture's evidence by capture id and verify every hash against its chain of custody.",
  usage: [
    "podmortem export CAPTURE_ID [--out DIR] [--progress] [--json]",
    CONNECTION_USAGE,
    "  the custody hash is checked against the one the capture recorded in Restate; exit 5 on any mismatch;",
    "  progress goes to stderr on a terminal (--progress: also when stderr is a log)",
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
    const { ingress, ingressUrl } = connectionFrom(values);
    const status = await callRestate(
      ingress.workflowClient<CaptureWorkflow>({ name: "Capture" }, captureId).status(),
      ingressUrl,
    );
    if (!status?.evidence)
      throw new PodmortemError("INPUT_INVALID", `capture ${captureId} has no sealed evidence`);
    const progress = progressFor(values);
    const report = await exportEvidence({
      custodyUri: status.evidence.custodyUri,
      out: values.out ?? `./${captureId}`,
      expected: {
        bundleSha256: status.evidence.custodySha256,
        logSha256: status.evidence.logSha256 ?? undefined,
      },
      open: createUriReader(() =>
        createS3Client({
          endpoint: process.env.PODMORTEM_S3_ENDPOINT,
          region: process.env.PODMORTEM_S3_REGION,
          forcePathStyle: process.env.PODMORTEM_S3_FORCE_PATH_STYLE === "true",
        }),
      ),
      ...(progress ? { onProgress: progress.onBytes } : {}),
    });
    progress?.done();
    return printReport(report, values.json);
  },
};
