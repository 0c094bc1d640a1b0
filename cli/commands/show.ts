import { parseArgs } from "node:util";

import { PodmortemError } from "../../src/errors.ts";
import { REPORT_FILES } from "../../src/report/report-schema.ts";
import type { CaptureWorkflow } from "../../workflows/capture.workflow.ts";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connectionFrom } from "../connection.ts";
import { HashMismatch, readEvidenceDocument } from "../evidence-reader.ts";
import { EXIT, type ExitCode } from "../exit-codes.ts";
import type { Command } from "../main.ts";
import { renderForTerminal } from "../terminal-markdown.ts";

export const showCommand: Command = {
  summary: "Print a capture's postmortem (report.md), checked against its chain of custody.",
  usage: [
    "podmortem show CAPTURE_ID [--json]",
    CONNECTION_USAGE,
    "  --json prints report.json instead; evidence in S3 is read with the AWS default credential chain",
    "  (PODMORTEM_S3_ENDPOINT/_REGION/_FORCE_PATH_STYLE for S3-compatible stores)",
    "  exit codes: 0 shown, 2 usage, 3 no such capture or no report, 4 Restate unavailable,",
    "  5 the report does not match the hash custody.json recorded",
  ].join("\n"),
  async run(args): Promise<ExitCode> {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: CONNECTION_OPTIONS,
    });
    const captureId = positionals[0];
    if (!captureId || positionals.length > 1) {
      process.stderr.write(
        "podmortem show: name one capture id (podmortem incidents lists them)\n",
      );
      return EXIT.usage;
    }
    const { ingress } = connectionFrom(values);
    let status;
    try {
      status = await ingress
        .workflowClient<CaptureWorkflow>({ name: "Capture" }, captureId)
        .status();
    } catch (error) {
      throw new PodmortemError(
        "RESTATE_UNAVAILABLE",
        `Restate's ingress did not answer the capture's status (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`,
        { cause: error },
      );
    }
    if (!status) throw new PodmortemError("INPUT_INVALID", `no capture ${captureId}`);
    const name = values.json ? REPORT_FILES.json : REPORT_FILES.markdown;
    const artifact = status.evidence?.artifacts.find((a) => a.name === name);
    if (!artifact)
      throw new PodmortemError(
        "INPUT_INVALID",
        `capture ${captureId} has no ${name}${status.phase === "running" ? " yet: it is still running" : ""}`,
      );
    try {
      const body = await readEvidenceDocument(
        status.evidence!.custodyUri,
        artifact.name,
        artifact.sha256,
      );
      process.stdout.write(
        values.json
          ? body.toString("utf8")
          : renderForTerminal(body.toString("utf8"), process.stdout.isTTY === true),
      );
      return EXIT.ok;
    } catch (error) {
      if (!(error instanceof HashMismatch)) throw error;
      process.stderr.write(
        `podmortem show: ${name} DOES NOT MATCH ITS CHAIN OF CUSTODY: ${error.message}\n`,
      );
      return EXIT.verificationFailed;
    }
  },
};
