import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";

export type ManagedProcess = {
  child: ChildProcess;
  logFile: string;
  exited: () => boolean;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  tail(bytes?: number): string;
};

// Children run in their own process group, so a Ctrl-C in the terminal (SIGINT to the whole
// foreground group) reaches only the parent, which then stops them in order: `podmortem dev`
// stops the watcher before the API server it watches. Whatever is left when the parent exits goes.
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export function startProcess(
  command: string,
  args: string[],
  options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): ManagedProcess {
  const log = createWriteStream(options.logFile, { flags: "a" });
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  // "close" comes after both output streams are drained, so the log has everything.
  child.once("close", () => log.end());
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => ((exited = true), resolve())),
  );
  child.once("error", () => (exited = true));
  return {
    child,
    logFile: options.logFile,
    exited: () => exited,
    tail: (bytes = 3000) => {
      try {
        const text = readFileSync(options.logFile, "utf8");
        return text.slice(-bytes);
      } catch {
        return "";
      }
    },
    async stop(signal = "SIGTERM", graceMs = 5000) {
      if (exited) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; process?: ManagedProcess },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (options.process?.exited()) {
      throw new Error(`${what} exited before it was ready:\n${options.process.tail()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what} was not ready after ${options.timeoutMs} ms${options.process ? `:\n${options.process.tail()}` : ""}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until a GET of the URL answers 2xx. */
export async function waitForUrl(
  url: string,
  options: { timeoutMs: number; process?: ManagedProcess; init?: RequestInit },
): Promise<void> {
  await waitFor(url, () => httpOk(url, options.init), options);
}

export async function httpOk(url: string, init?: RequestInit): Promise<boolean> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
  return response.ok;
}
