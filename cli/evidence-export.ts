import type { S3Client } from "@aws-sdk/client-s3";

import { exportEvidence, type ExportReport, type TrustedCustody } from "../src/evidence/export.ts";
import { createS3Client } from "../src/evidence/s3-store.ts";
import { table } from "./connection.ts";
import { EXIT, type ExitCode } from "./exit-codes.ts";
import { progressFor } from "./progress.ts";

/** Attempts per S3 request: the SDK's standard backoff rides out throttling (503 SlowDown). */
export const EXPORT_S3_ATTEMPTS = 5;

/** The investigator's S3 access: the AWS default credential chain, retried like any CLI. */
function s3FromEnvironment(): () => S3Client {
  let client: S3Client | undefined;
  return () =>
    (client ??= createS3Client({
      endpoint: process.env.PODMORTEM_S3_ENDPOINT,
      region: process.env.PODMORTEM_S3_REGION,
      forcePathStyle: process.env.PODMORTEM_S3_FORCE_PATH_STYLE === "true",
      maxAttempts: EXPORT_S3_ATTEMPTS,
    }));
}

export function printReport(report: ExportReport, json: boolean): ExitCode {
  const failed = report.mismatches.length > 0 || report.refusal !== null;
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    if (report.files.length > 0)
      process.stdout.write(
        table(
          ["FILE", "BYTES", "SHA256", "VERIFIED"],
          report.files.map((f) => [f.name, String(f.size), f.sha256, f.ok ? "ok" : "MISMATCH"]),
        ),
      );
    for (const m of report.mismatches) {
      process.stdout.write(
        `MISMATCH ${m.artifact}: sha256 ${m.actual}, but ${m.against} says ${m.expected}\n`,
      );
    }
    if (report.refusal) process.stdout.write(`REFUSED: ${report.refusal}\n`);
    if (report.skipped > 0)
      process.stdout.write(`stopped at the first mismatch: ${report.skipped} more not fetched\n`);
    process.stdout.write(
      failed
        ? "EVIDENCE DOES NOT MATCH ITS CHAIN OF CUSTODY\n"
        : `all hashes verified against ${report.trustedFrom}; evidence in ${report.out}\n`,
    );
  }
  return failed ? EXIT.verificationFailed : EXIT.ok;
}

/** Both export commands: download, verify, report; exit 5 on anything that does not hold. */
export async function runExport(
  trusted: TrustedCustody,
  values: { out: string; json: boolean; progress: boolean },
): Promise<ExitCode> {
  const progress = progressFor(values);
  const report = await exportEvidence({
    trusted,
    out: values.out,
    s3: s3FromEnvironment(),
    ...(progress ? { onProgress: progress.onBytes } : {}),
  });
  progress?.done();
  return printReport(report, values.json);
}
