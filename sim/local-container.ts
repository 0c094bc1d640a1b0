import type { CoreV1Api, V1Container, V1Pod } from "@kubernetes/client-node";
import { spawn } from "node:child_process";
import { accessSync, constants, existsSync, realpathSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const REPO_ROOT = path.resolve(import.meta.dirname, "..");
const PODMORTEM_BIN = path.join(REPO_ROOT, "bin", "podmortem.js");
// Kubelet limits: the message file is cut at 4096 bytes; the log fallback takes 80 lines/2 KiB.
const MESSAGE_MAX_BYTES = 4096;
const FALLBACK_LINES = 80;
const FALLBACK_BYTES = 2048;

export type LocalExit = {
  exitCode: number;
  reason: "Completed" | "Error" | "StartError";
  signal?: number;
  message: string;
};

export type LocalContainer = {
  pid: number;
  /** The file the process writes its termination message to, also in $TERMINATION_MESSAGE_PATH. */
  terminationMessagePath: string;
  exited: Promise<LocalExit>;
  /** SIGTERM to the process group, SIGKILL after graceMs. */
  stop(graceMs: number): Promise<void>;
};

type EnvSources = { core: CoreV1Api; pod: V1Pod; podIP: string };

async function lookUp(
  sources: EnvSources,
  kind: "secret" | "configMap",
  name: string,
): Promise<Record<string, string> | undefined> {
  const namespace = sources.pod.metadata?.namespace ?? "default";
  try {
    if (kind === "configMap") {
      return (await sources.core.readNamespacedConfigMap({ name, namespace })).data ?? {};
    }
    const secret = await sources.core.readNamespacedSecret({ name, namespace });
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
    );
  } catch {
    return undefined;
  }
}

function fieldValue(sources: EnvSources, fieldPath: string): string {
  const { pod } = sources;
  const fields: Record<string, string | undefined> = {
    "metadata.name": pod.metadata?.name,
    "metadata.namespace": pod.metadata?.namespace,
    "metadata.uid": pod.metadata?.uid,
    "spec.nodeName": pod.spec?.nodeName,
    "spec.serviceAccountName": pod.spec?.serviceAccountName,
    "status.hostIP": "127.0.0.1",
    "status.podIP": sources.podIP,
  };
  return fields[fieldPath] ?? "";
}

/** $(VAR) as the kubelet expands it in env values, command and args; $$(VAR) escapes. */
export function expandReferences(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name?: string) => {
    if (match === "$$") return "$";
    return name !== undefined && env[name] !== undefined ? env[name] : match;
  });
}

/** The container's environment as a kubelet would give it, literal values and references. */
async function containerEnv(
  container: V1Container,
  sources: EnvSources,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const ref = source.secretRef ?? source.configMapRef;
    if (!ref?.name) continue;
    const data = await lookUp(sources, source.secretRef ? "secret" : "configMap", ref.name);
    for (const [key, value] of Object.entries(data ?? {}))
      env[`${source.prefix ?? ""}${key}`] = value;
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (variable.value !== undefined) {
      env[variable.name] = expandReferences(variable.value, env);
    } else if (from?.fieldRef) {
      env[variable.name] = fieldValue(sources, from.fieldRef.fieldPath);
    } else if (from?.secretKeyRef?.name || from?.configMapKeyRef?.name) {
      const ref = (from.secretKeyRef ?? from.configMapKeyRef)!;
      const data = await lookUp(sources, from.secretKeyRef ? "secret" : "configMap", ref.name!);
      const value = data?.[ref.key];
      if (value !== undefined) env[variable.name] = value;
    }
  }
  return env;
}

function isUnderTempDir(file: string): boolean {
  const dir = path.dirname(file);
  try {
    const real = realpathSync(dir);
    accessSync(real, constants.W_OK);
    return real.startsWith(realpathSync(os.tmpdir()) + path.sep);
  } catch {
    return false;
  }
}

function logTail(output: Buffer): string {
  const lines = output.toString("utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  const tail = Buffer.from(lines.slice(-FALLBACK_LINES).join("\n"));
  return tail.subarray(Math.max(0, tail.length - FALLBACK_BYTES)).toString("utf8");
}

/**
 * Runs a container's command as a local process, in its own process group so `sh -c` children
 * die with it. `podmortem` and `node` run on the Node that runs the tests (the machine's own node
 * may be older). hostPath volumes need no mapping: tests point them at local temp folders.
 */
export async function startLocalContainer(options: {
  core: CoreV1Api;
  pod: V1Pod;
  podIP: string;
  container: V1Container;
  workDir: string;
  onOutput: (chunk: Buffer) => void;
  readOutput: () => Buffer;
}): Promise<LocalContainer> {
  const { container, pod } = options;
  const specPath = container.terminationMessagePath;
  const terminationMessagePath =
    specPath && isUnderTempDir(specPath)
      ? specPath
      : path.join(
          options.workDir,
          `${pod.metadata?.uid ?? "pod"}-${container.name}.termination-log`,
        );
  await writeFile(terminationMessagePath, "");

  const declared = await containerEnv(container, { ...options, podIP: options.podIP });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    HOSTNAME: pod.metadata?.name,
    ...declared,
    TERMINATION_MESSAGE_PATH: terminationMessagePath,
    PODMORTEM_TERMINATION_LOG: terminationMessagePath,
  };
  const expand = (arg: string) => expandReferences(arg, declared);
  let argv = [...(container.command ?? []), ...(container.args ?? [])].map(expand);
  // podmortem's image: ENTRYPOINT ["node", "bin/podmortem.js"].
  if (!container.command?.length) argv = ["podmortem", ...argv];
  if (argv[0] === "podmortem") argv = [process.execPath, PODMORTEM_BIN, ...argv.slice(1)];
  else if (argv[0] === "node") argv = [process.execPath, ...argv.slice(1)];
  const cwd =
    container.workingDir && existsSync(container.workingDir)
      ? container.workingDir
      : options.workDir;

  const child = spawn(argv[0]!, argv.slice(1), {
    env,
    cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", options.onOutput);
  child.stderr.on("data", options.onOutput);
  let spawnError: Error | undefined;
  child.once("error", (error) => (spawnError = error));
  const exited = new Promise<LocalExit>((resolve) => {
    // "close" comes after the pipes drain (and after "error" when the spawn failed), so the log
    // is complete when the status says terminated.
    child.once("close", (code, signal) => {
      void (async () => {
        const file = await readFile(terminationMessagePath).catch(() => Buffer.alloc(0));
        let message = file.subarray(0, MESSAGE_MAX_BYTES).toString("utf8");
        const signalNumber = signal ? os.constants.signals[signal] : undefined;
        let exitCode = code ?? (signalNumber ? 128 + signalNumber : 128);
        if (spawnError) {
          exitCode = 128;
          message = `failed to start ${argv[0]}: ${spawnError.message}`;
        } else if (
          !message &&
          exitCode !== 0 &&
          container.terminationMessagePolicy === "FallbackToLogsOnError"
        ) {
          message = logTail(options.readOutput());
        }
        const reason = spawnError ? "StartError" : exitCode === 0 ? "Completed" : "Error";
        resolve({ exitCode, reason, ...(signalNumber ? { signal: signalNumber } : {}), message });
      })();
    });
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  return {
    pid: child.pid ?? -1,
    terminationMessagePath,
    exited,
    async stop(graceMs) {
      signalGroup("SIGTERM");
      const timer = setTimeout(() => signalGroup("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
