import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import path from "node:path";

import { PodmortemError } from "../../src/errors.ts";
import { resolveRestateServerBinary } from "../../src/restate/server-binary.ts";

export type RestateProcess = { adminUrl: string; ingressUrl: string; stop(): Promise<void> };

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** restate-server with the repository's restate.toml, data under the given folder. */
export async function startRestateProcess(options: {
  configFile: string;
  dataDir: string;
  adminPort: number;
  ingressPort: number;
}): Promise<RestateProcess> {
  const adminUrl = `http://127.0.0.1:${options.adminPort}`;
  const ingressUrl = `http://127.0.0.1:${options.ingressPort}`;
  if (await answers(`${adminUrl}/health`)) {
    throw new PodmortemError(
      "PREREQUISITE_MISSING",
      `something already answers on ${adminUrl}: stop the other Restate (or podmortem dev) first`,
    );
  }
  mkdirSync(options.dataDir, { recursive: true });
  const logFile = path.join(options.dataDir, "restate-server.log");
  const child: ChildProcess = spawn(
    resolveRestateServerBinary(),
    ["--config-file", options.configFile, "--no-logo"],
    {
      env: { ...process.env, RESTATE_BASE_DIR: options.dataDir },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: Ctrl-C reaches podmortem, which stops the watcher and the
      // endpoint before Restate, instead of Restate dying under them.
      detached: true,
    },
  );
  const log = createWriteStream(logFile, { flags: "a" });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let exited = false;
  child.once("exit", () => (exited = true));
  // If this process dies without its teardown (a crash, a kill), restate-server must not outlive it.
  const killChild = () => {
    if (!exited) child.kill("SIGKILL");
  };
  process.once("exit", killChild);

  const deadline = Date.now() + 30_000;
  while (!(await answers(`${adminUrl}/health`))) {
    if (exited || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new PodmortemError(
        "PREREQUISITE_MISSING",
        `restate-server did not start (ports ${options.ingressPort}/${options.adminPort} busy?); see ${logFile}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    adminUrl,
    ingressUrl,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}
