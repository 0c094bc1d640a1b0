import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { queryRestate, registerDeployment } from "../../src/restate/admin.ts";
import { resolveRestateServerBinary } from "../../src/restate/server-binary.ts";
import { serveEndpoint, type Endpoint, type ServiceDefinitions } from "../../workflows/endpoint.ts";
import { freePorts } from "./ports.ts";
import { httpOk, startProcess, waitFor, type ManagedProcess } from "./processes.ts";

export type RestateHarness = AsyncDisposable & {
  ingressUrl: string;
  adminUrl: string;
  endpointUrl: string | undefined;
  baseDir: string;
  logFile: string;
  startupMs: number;
  /** The native server's pid, for memory readings. */
  serverPids(): number[];
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  register(uri: string): Promise<void>;
  restartServer(): Promise<void>;
  stopServer(signal?: NodeJS.Signals): Promise<void>;
  startServer(): Promise<void>;
  stopEndpoint(): Promise<void>;
  startEndpoint(): Promise<void>;
};

export type RestateOptions = {
  services?: ServiceDefinitions;
  identityKeys?: string[];
  extraEnv?: Record<string, string>;
};

/** The real restate-server from npm, on free loopback ports, its data in a temp dir. */
export async function startRestate(options: RestateOptions = {}): Promise<RestateHarness> {
  const started = Date.now();
  const baseDir = await mkdtemp(path.join(os.tmpdir(), "podmortem-restate-"));
  const [ingressPort, adminPort, nodePort, endpointPort] = (await freePorts(4)) as [
    number,
    number,
    number,
    number,
  ];
  const ingressUrl = `http://127.0.0.1:${ingressPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const env = {
    ...process.env,
    RESTATE_BASE_DIR: baseDir,
    RESTATE_NODE_NAME: "test",
    RESTATE_CLUSTER_NAME: "podmortem-test",
    RESTATE_BIND_IP: "127.0.0.1",
    RESTATE_ADVERTISED_HOST: "127.0.0.1",
    RESTATE_BIND_PORT: String(nodePort),
    RESTATE_INGRESS__BIND_PORT: String(ingressPort),
    RESTATE_ADMIN__BIND_PORT: String(adminPort),
    RESTATE_DEFAULT_NUM_PARTITIONS: "2",
    RESTATE_ROCKSDB_TOTAL_MEMORY_SIZE: "128.0 MiB",
    RESTATE_ADMIN__QUERY_ENGINE__MEMORY_SIZE: "32.0 MiB",
    RESTATE_BIFROST__RECORD_CACHE_MEMORY_SIZE: "16.0 MiB",
    RESTATE_LOG_FILTER: "warn",
    RESTATE_LISTEN_MODE: "tcp",
    ...options.extraEnv,
  };
  const binary = resolveRestateServerBinary();
  let server: ManagedProcess | undefined;
  let endpoint: Endpoint | undefined;
  const logFile = path.join(baseDir, "restate-server.log");

  async function startServer(): Promise<void> {
    server = startProcess(binary, ["--no-logo"], {
      env,
      logFile,
    });
    await waitFor("restate-server admin API", () => httpOk(`${adminUrl}/health`), {
      timeoutMs: 60_000,
      process: server,
    });
    await waitFor("restate-server ingress", () => httpOk(`${ingressUrl}/restate/health`), {
      timeoutMs: 60_000,
      process: server,
    });
  }

  async function startEndpoint(): Promise<void> {
    if (!options.services) return;
    endpoint = await serveEndpoint(options.services, {
      port: endpointPort,
      host: "127.0.0.1",
      identityKeys: options.identityKeys,
    });
  }

  const endpointUrl = options.services ? `http://127.0.0.1:${endpointPort}` : undefined;
  try {
    await startServer();
    await startEndpoint();
    if (endpointUrl) await registerDeployment({ adminUrl }, endpointUrl);
  } catch (error) {
    const tail = server?.tail() ?? "";
    await server?.stop("SIGKILL");
    await endpoint?.close();
    await rm(baseDir, { recursive: true, force: true });
    if (error instanceof Error && !error.message.includes(tail)) {
      error.message += `\nrestate-server log:\n${tail}`;
    }
    throw error;
  }

  return {
    ingressUrl,
    adminUrl,
    endpointUrl,
    baseDir,
    logFile,
    startupMs: Date.now() - started,
    serverPids: () => (server?.child.pid === undefined ? [] : [server.child.pid]),
    query: (sql) => queryRestate({ adminUrl }, sql),
    register: async (uri) => void (await registerDeployment({ adminUrl }, uri)),
    async restartServer() {
      await server?.stop("SIGKILL");
      await startServer();
    },
    stopServer: async (signal = "SIGKILL") => server?.stop(signal),
    startServer,
    async stopEndpoint() {
      await endpoint?.close();
      endpoint = undefined;
    },
    startEndpoint,
    async [Symbol.asyncDispose]() {
      await endpoint?.close();
      await server?.stop("SIGTERM", 3000);
      await rm(baseDir, { recursive: true, force: true });
    },
  };
}
