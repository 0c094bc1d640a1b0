import { spawn } from "node:child_process";
import path from "node:path";

import type { S3Harness } from "./s3-server.ts";

export const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");

export type CliRun = { code: number | null; stdout: string; stderr: string; ms: number };

/**
 * Runs a program as a user would and collects everything it wrote. Its stdin gets `input` (or is
 * closed at once), so a command that reads it never waits on the test.
 */
export function runProgram(
  command: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; input?: string },
): Promise<CliRun> {
  const started = Date.now();
  const child = spawn(command, args, { env: options.env });
  child.stdin.end(options.input ?? "");
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) =>
    child.once("close", (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })),
  );
}

/** A script of bin/ (`podmortem.js`, `kubectl-forensic.js`) on the project's own Node 24. */
export function runBinScript(
  script: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; input?: string },
): Promise<CliRun> {
  return runProgram(
    path.join(REPO_ROOT, "node_modules", ".bin", "node"),
    [path.join(REPO_ROOT, "bin", script), ...args],
    options,
  );
}

/** What the CLI needs to read evidence from the test's S3 server. */
export function s3ClientEnv(s3: S3Harness): Record<string, string> {
  return {
    PODMORTEM_S3_ENDPOINT: s3.endpoint,
    PODMORTEM_S3_REGION: s3.region,
    PODMORTEM_S3_FORCE_PATH_STYLE: "true",
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  };
}
