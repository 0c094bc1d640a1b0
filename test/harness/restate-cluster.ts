import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { queryRestate, registerDeployment } from "../../src/restate/admin.ts";
import { resolveRestateServerBinary } from "../../src/restate/server-binary.ts";
import { serveEndpoint, type Endpoint, type ServiceDefinitions } from "../../workflows/endpoint.ts";
import { freePorts } from "./ports.ts";
import { httpOk, startProcess, waitFor, type ManagedProcess } from "./processes.ts";
import { startTcpBalancer, type TcpBalancer } from "./tcp-balancer.ts";

export type RestateClusterNode = {
  name: string;
  ingressUrl: string;
  adminUrl: string;
  logFile: string;
  running(): boolean;
  pid(): number | undefined;
  /** SIGKILL of the native server: the node is lost, its disk kept. */
  kill(): Promise<void>;
  start(): Promise<void>;
};

export type RestateClusterHarness = AsyncDisposable & {
  nodes: RestateClusterNode[];
  /** Every node's ingress behind one address, as a Kubernetes Service in front of them. */
  ingressUrl: string;
  adminUrl(): string;
  endpointUrl: string | undefined;
  startupMs: number;
  serverPids(): number[];
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Stops one endpoint process (all of them without an index), as a killed pod would. */
  stopEndpoint(index?: number): Promise<void>;
  startEndpoint(index?: number): Promise<void>;
};

export type RestateClusterOptions = {
  nodes?: number;
  services?: ServiceDefinitions;
  /** Replication of logs and partitions. 2. */
  replication?: number;
  /** Endpoint servers behind one balanced address (one registered deployment). 1. */
  endpointReplicas?: number;
};

function nodeConfig(input: {
  name: string;
  baseDir: string;
  fabricPort: number;
  adminPort: number;
  ingressPort: number;
  provision: boolean;
  replication: number;
  fabricPorts: number[];
}): string {
  const peers = input.fabricPorts.map((port) => `"http://127.0.0.1:${port}"`).join(", ");
  return `node-name = "${input.name}"
cluster-name = "podmortem-cluster-test"
base-dir = "${input.baseDir}"
auto-provision = ${input.provision}
default-replication = ${input.replication}
default-num-partitions = 4
roles = ["metadata-server", "admin", "worker", "log-server", "http-ingress"]
advertised-address = "http://127.0.0.1:${input.fabricPort}"
bind-address = "127.0.0.1:${input.fabricPort}"
rocksdb-total-memory-size = "128.0 MiB"

[metadata-server]
type = "replicated"

[metadata-client]
addresses = [${peers}]

[bifrost]
default-provider = "replicated"

[bifrost.replicated-loglet]
default-log-replication = ${input.replication}

[admin]
bind-address = "127.0.0.1:${input.adminPort}"

[admin.query-engine]
memory-size = "32.0 MiB"

[ingress]
bind-address = "127.0.0.1:${input.ingressPort}"
`;
}

/**
 * A Restate cluster of real restate-server processes on loopback: replicated metadata and logs,
 * every node with every role, so the ingress answers on any node and one node can be lost.
 */
export async function startRestateCluster(
  options: RestateClusterOptions = {},
): Promise<RestateClusterHarness> {
  const started = Date.now();
  const count = options.nodes ?? 3;
  const replication = options.replication ?? 2;
  const root = await mkdtemp(path.join(os.tmpdir(), "podmortem-restate-cluster-"));
  const endpointReplicas = options.endpointReplicas ?? 1;
  const ports = await freePorts(count * 3 + endpointReplicas);
  const endpointPorts = ports.slice(count * 3);
  const fabricPorts = Array.from({ length: count }, (_, i) => ports[i * 3]!);
  const binary = resolveRestateServerBinary();

  const nodes: RestateClusterNode[] = [];
  const ingressPorts: number[] = [];
  for (let i = 0; i < count; i++) {
    const name = `n${i + 1}`;
    const baseDir = path.join(root, name);
    const configFile = path.join(root, `${name}.toml`);
    const [fabricPort, adminPort, ingressPort] = [
      ports[i * 3]!,
      ports[i * 3 + 1]!,
      ports[i * 3 + 2]!,
    ];
    await writeFile(
      configFile,
      nodeConfig({
        name,
        baseDir,
        fabricPort,
        adminPort,
        ingressPort,
        provision: i === 0,
        replication,
        fabricPorts,
      }),
    );
    ingressPorts.push(ingressPort);
    const logFile = path.join(root, `${name}.log`);
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const ingressUrl = `http://127.0.0.1:${ingressPort}`;
    let server: ManagedProcess | undefined;
    nodes.push({
      name,
      adminUrl,
      ingressUrl,
      logFile,
      running: () => server !== undefined && !server.exited(),
      pid: () => (server && !server.exited() ? server.child.pid : undefined),
      async kill() {
        await server?.stop("SIGKILL");
      },
      async start() {
        server = startProcess(binary, ["--no-logo", "--config-file", configFile], {
          env: { ...process.env, RESTATE_LOG_FILTER: "warn" },
          logFile,
        });
      },
    });
  }

  const firstRunning = () => {
    const node = nodes.find((candidate) => candidate.running());
    if (!node) throw new Error("no Restate node is running");
    return node;
  };
  const endpoints: Array<Endpoint | undefined> = endpointPorts.map(() => undefined);
  let balancer: TcpBalancer | undefined;
  const startEndpoint = async (index?: number) => {
    const services = options.services;
    if (!services) return;
    const which = index === undefined ? endpointPorts.map((_, i) => i) : [index];
    for (const i of which) {
      endpoints[i] ??= await serveEndpoint(services, {
        port: endpointPorts[i]!,
        host: "127.0.0.1",
      });
    }
  };
  const stopEndpoint = async (index?: number) => {
    const which = index === undefined ? endpointPorts.map((_, i) => i) : [index];
    for (const i of which) {
      await endpoints[i]?.close();
      endpoints[i] = undefined;
    }
  };
  let endpointUrl: string | undefined;
  const ingress = await startTcpBalancer(ingressPorts);
  try {
    await Promise.all(nodes.map((node) => node.start()));
    for (const node of nodes) {
      await waitFor(
        `restate node ${node.name} ingress`,
        () => httpOk(`${node.ingressUrl}/restate/health`),
        {
          timeoutMs: 90_000,
        },
      );
      await waitFor(`restate node ${node.name} admin`, () => httpOk(`${node.adminUrl}/health`), {
        timeoutMs: 90_000,
      });
    }
    if (options.services) {
      await startEndpoint();
      if (endpointReplicas > 1) balancer = await startTcpBalancer(endpointPorts);
      endpointUrl = balancer?.url ?? `http://127.0.0.1:${endpointPorts[0]}`;
      await registerDeployment({ adminUrl: nodes[0]!.adminUrl }, endpointUrl);
    }
  } catch (error) {
    await Promise.all(nodes.map((node) => node.kill()));
    await stopEndpoint();
    await balancer?.close();
    await ingress.close();
    await rm(root, { recursive: true, force: true });
    throw error;
  }

  return {
    nodes,
    ingressUrl: ingress.url,
    adminUrl: () => firstRunning().adminUrl,
    endpointUrl,
    startupMs: Date.now() - started,
    serverPids: () => nodes.map((node) => node.pid()).filter((pid) => pid !== undefined),
    query: (sql) => queryRestate({ adminUrl: firstRunning().adminUrl }, sql),
    stopEndpoint,
    startEndpoint,
    async [Symbol.asyncDispose]() {
      await stopEndpoint();
      await balancer?.close();
      await ingress.close();
      await Promise.all(nodes.map((node) => node.kill()));
      await rm(root, { recursive: true, force: true });
    },
  };
}
