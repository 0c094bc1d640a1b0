import {
  CoreV1Api,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type V1ContainerStatus,
  type V1Pod,
  type V1PodStatus,
} from "@kubernetes/client-node";
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";

import type { KubeCluster } from "./kube-cluster.ts";
import { bytesEntry, patternEntry, tarStream } from "./tar.ts";

export const SCENARIOS = [
  "healthy",
  "crashloop",
  "oomkilled",
  "imagepullbackoff",
  "createcontainererror",
  "init-crash",
  "multi-container",
  "evicted",
] as const;
export type Scenario = (typeof SCENARIOS)[number];
export const SCENARIO_ANNOTATION = "fake-kubelet/scenario";

export type FakeKubeletOptions = {
  nodes: string[];
  checkpointDir?: string;
  checkpointEnabled?: boolean;
  /** Size of the memory pages file inside each checkpoint archive. */
  checkpointBytes?: number;
  /** How long a crashing container runs, and how long it waits in back-off, per cycle. */
  restartIntervalMs?: number;
  maxRestarts?: number;
  /** Pods whose container uses this image run as local processes. */
  localImage?: string;
  scenarioFor?: (pod: V1Pod) => Scenario | undefined;
};

type Termination = {
  exitCode: number;
  reason: string;
  message?: string;
  signal?: number;
  startedAt: string;
  finishedAt: string;
};

type ContainerSim = {
  name: string;
  image: string;
  kind: "init" | "regular";
  crashes: boolean;
  exitCode: number;
  reason: string;
  restartCount: number;
  state: "running" | "waiting" | "terminated" | "pulling" | "createerror" | "initializing";
  startedAt: string;
  last: Termination | undefined;
  current: Termination | undefined;
  logs: Map<number, Buffer>;
};

type PodSim = {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  scenario: Scenario;
  containers: ContainerSim[];
  phase: string;
  reason?: string;
  message?: string;
  timer?: NodeJS.Timeout;
  process?: ChildProcess;
  updates: Promise<void>;
  stopped: boolean;
};

export type FakeKubelet = AsyncDisposable & {
  port: number;
  nodes: string[];
  checkpointDir: string;
  previousLog(namespace: string, pod: string, container: string): Buffer;
  currentLog(namespace: string, pod: string, container: string): Buffer;
  setLog(
    namespace: string,
    pod: string,
    container: string,
    logs: { current?: string | Buffer; previous?: string | Buffer },
  ): void;
  crashNow(
    namespace: string,
    pod: string,
    container: string,
    termination?: { exitCode?: number; reason?: string; message?: string },
  ): Promise<void>;
  restartCount(namespace: string, pod: string, container: string): number;
  /** Starts the container again now: a crash loop's running window, when checkpoints work. */
  runNow(namespace: string, pod: string, container: string): Promise<void>;
  checkpointRequests(): number;
  /** Waits until the fake kubelet has written every status update it has queued. */
  settle(): Promise<void>;
};

const key = (namespace: string, pod: string) => `${namespace}/${pod}`;
const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

function instanceLog(sim: PodSim, container: ContainerSim, instance: number): Buffer {
  const custom = container.logs.get(instance);
  if (custom) return custom;
  const lines = [
    `starting ${sim.namespace}/${sim.name} container ${container.name} instance ${instance}`,
  ];
  for (let i = 1; i <= 20; i += 1)
    lines.push(`${container.name}[${instance}] working on item ${i}`);
  if (container.crashes)
    lines.push(
      `${container.name}[${instance}] fatal: ${container.reason} (exit ${container.exitCode})`,
    );
  return Buffer.from(`${lines.join("\n")}\n`);
}

function scenarioOf(pod: V1Pod, options: FakeKubeletOptions): Scenario {
  const fromRule = options.scenarioFor?.(pod);
  if (fromRule) return fromRule;
  const annotated = pod.metadata?.annotations?.[SCENARIO_ANNOTATION];
  return (SCENARIOS as readonly string[]).includes(annotated ?? "")
    ? (annotated as Scenario)
    : "healthy";
}

/** What only a kubelet does: node registration, pod status, logs, checkpoints, running pods. */
export async function startFakeKubelet(
  cluster: KubeCluster,
  options: FakeKubeletOptions,
): Promise<FakeKubelet> {
  const kc = cluster.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const checkpointDir =
    options.checkpointDir ?? (await mkdtemp(path.join(os.tmpdir(), "podmortem-checkpoints-")));
  await mkdir(checkpointDir, { recursive: true });
  const intervalMs = options.restartIntervalMs ?? 1500;
  const maxRestarts = options.maxRestarts ?? 6;
  const localImage = options.localImage ?? "podmortem:dev";
  const sims = new Map<string, PodSim>();
  let checkpoints = 0;
  let nextNode = 0;

  const server: Server = createServer({
    cert: readFileSync(cluster.serverCertFile),
    key: readFileSync(cluster.serverKeyFile),
  });
  server.on("request", (request, response) => {
    void handleKubeletRequest(request.method ?? "GET", request.url ?? "/").then(
      ({ status, body, type }) => {
        response.writeHead(status, { "content-type": type ?? "text/plain" });
        response.end(body);
      },
      (error: unknown) => {
        response.writeHead(500, { "content-type": "text/plain" });
        response.end(String(error));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;

  async function handleKubeletRequest(
    method: string,
    rawUrl: string,
  ): Promise<{ status: number; body: string | Buffer; type?: string }> {
    const url = new URL(rawUrl, "https://kubelet");
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (method === "GET" && parts[0] === "containerLogs" && parts.length === 4) {
      const [, namespace, podName, containerName] = parts as [string, string, string, string];
      const sim = sims.get(key(namespace, podName));
      const container = sim?.containers.find((c) => c.name === containerName);
      if (!sim || !container) return { status: 404, body: `pod ${podName} not found` };
      const previous = url.searchParams.get("previous") === "true";
      if (previous && container.restartCount === 0) {
        return {
          status: 400,
          body: `previous terminated container "${containerName}" in pod "${podName}" not found`,
        };
      }
      if (container.state === "pulling" || container.state === "createerror") {
        return {
          status: 400,
          body: `container "${containerName}" in pod "${podName}" is waiting to start`,
        };
      }
      let log = instanceLog(
        sim,
        container,
        previous ? container.restartCount - 1 : container.restartCount,
      );
      const tailLines = Number(url.searchParams.get("tailLines") ?? "0");
      if (tailLines > 0) {
        const lines = log.toString("utf8").split("\n");
        const trailing = lines.at(-1) === "" ? 1 : 0;
        log = Buffer.from(lines.slice(-(tailLines + trailing)).join("\n"));
      }
      const limitBytes = Number(url.searchParams.get("limitBytes") ?? "0");
      if (limitBytes > 0) log = log.subarray(0, limitBytes);
      return { status: 200, body: log };
    }
    if (method === "POST" && parts[0] === "checkpoint" && parts.length === 4) {
      checkpoints += 1;
      const [, namespace, podName, containerName] = parts as [string, string, string, string];
      const sim = sims.get(key(namespace, podName));
      const container = sim?.containers.find((c) => c.name === containerName);
      if (
        options.checkpointEnabled === false ||
        !sim ||
        !container ||
        container.state !== "running"
      ) {
        return { status: 404, body: "404 page not found" };
      }
      const file = path.join(
        checkpointDir,
        `checkpoint-${podName}_${namespace}-${containerName}-${new Date().toISOString()}.tar`,
      );
      await pipeline(
        tarStream([
          bytesEntry(
            "config.dump",
            JSON.stringify({ id: `${sim.uid}-${containerName}`, rootfsImageName: container.image }),
          ),
          bytesEntry(
            "spec.dump",
            JSON.stringify({ annotations: { "io.kubernetes.pod.name": podName } }),
          ),
          patternEntry("checkpoint/pages-1.img", options.checkpointBytes ?? 256 * 1024),
        ]),
        createWriteStream(file, { mode: 0o600 }),
      );
      return { status: 200, body: JSON.stringify({ items: [file] }), type: "application/json" };
    }
    return { status: 404, body: "404 page not found" };
  }

  for (const node of options.nodes) {
    await core
      .createNode({
        body: { metadata: { name: node, labels: { "kubernetes.io/hostname": node } } },
      })
      .catch((error: unknown) => {
        if ((error as { code?: number }).code !== 409) throw error;
      });
    const current = await core.readNode({ name: node });
    current.status = {
      addresses: [
        { type: "InternalIP", address: "127.0.0.1" },
        { type: "Hostname", address: node },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: port } },
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "KubeletReady",
          message: "fake kubelet is ready",
          lastHeartbeatTime: new Date(),
          lastTransitionTime: new Date(),
        },
      ],
      capacity: { cpu: "8", memory: "32Gi", pods: "110" },
      allocatable: { cpu: "8", memory: "32Gi", pods: "110" },
      nodeInfo: {
        architecture: "amd64",
        bootID: "",
        containerRuntimeVersion: "fake://1.0",
        kernelVersion: "",
        kubeProxyVersion: "",
        kubeletVersion: "v1.20.2",
        machineID: "",
        operatingSystem: "linux",
        osImage: "fake",
        systemUUID: "",
      },
    };
    await core.replaceNodeStatus({ name: node, body: current });
  }

  function renderContainer(c: ContainerSim): V1ContainerStatus {
    const status: V1ContainerStatus = {
      name: c.name,
      image: c.image,
      imageID: c.state === "pulling" ? "" : `${c.image}@sha256:${"0".repeat(64)}`,
      containerID: `fake://${c.name}-${c.restartCount}`,
      ready: c.state === "running" && c.kind === "regular",
      restartCount: c.restartCount,
      started: c.state === "running",
      state: {},
      lastState: {},
    };
    const asTerminated = (t: Termination) => ({
      exitCode: t.exitCode,
      reason: t.reason,
      ...(t.message ? { message: t.message } : {}),
      ...(t.signal ? { signal: t.signal } : {}),
      startedAt: t.startedAt as unknown as Date,
      finishedAt: t.finishedAt as unknown as Date,
      containerID: `fake://${c.name}`,
    });
    if (c.state === "running")
      status.state = { running: { startedAt: c.startedAt as unknown as Date } };
    if (c.state === "waiting")
      status.state = {
        waiting: {
          reason: "CrashLoopBackOff",
          message: `back-off restarting failed container ${c.name}`,
        },
      };
    if (c.state === "pulling")
      status.state = {
        waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${c.image}"` },
      };
    if (c.state === "createerror")
      status.state = {
        waiting: {
          reason: "CreateContainerError",
          message: `failed to create container ${c.name}: no such file or directory`,
        },
      };
    if (c.state === "initializing") status.state = { waiting: { reason: "PodInitializing" } };
    if (c.state === "terminated" && c.current)
      status.state = { terminated: asTerminated(c.current) };
    if (c.last) status.lastState = { terminated: asTerminated(c.last) };
    return status;
  }

  function renderStatus(sim: PodSim): V1PodStatus {
    const init = sim.containers.filter((c) => c.kind === "init").map(renderContainer);
    const regular = sim.containers.filter((c) => c.kind === "regular").map(renderContainer);
    const ready = regular.every((c) => c.ready);
    return {
      phase: sim.phase,
      ...(sim.reason ? { reason: sim.reason } : {}),
      ...(sim.message ? { message: sim.message } : {}),
      hostIP: "127.0.0.1",
      podIP: "10.1.0.1",
      startTime: sim.containers[0]?.startedAt as unknown as Date,
      conditions: [
        { type: "PodScheduled", status: "True" },
        {
          type: "Initialized",
          status: init.every((c) => c.state?.terminated?.exitCode === 0) ? "True" : "False",
        },
        { type: "ContainersReady", status: ready ? "True" : "False" },
        { type: "Ready", status: ready ? "True" : "False" },
      ],
      ...(init.length ? { initContainerStatuses: init } : {}),
      containerStatuses: regular,
    };
  }

  /** Like a kubelet, keeps trying until the API server has the newest status of the pod. */
  function pushStatus(sim: PodSim): Promise<void> {
    sim.updates = sim.updates.then(async () => {
      for (let attempt = 0; attempt < 120 && !sim.stopped; attempt += 1) {
        try {
          await core.patchNamespacedPodStatus(
            { name: sim.name, namespace: sim.namespace, body: { status: renderStatus(sim) } },
            setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
          );
          return;
        } catch (error) {
          if ((error as { code?: number }).code === 404) return;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
    });
    return sim.updates;
  }

  function crash(
    sim: PodSim,
    c: ContainerSim,
    termination?: { exitCode?: number; reason?: string; message?: string },
  ): void {
    const exitCode = termination?.exitCode ?? c.exitCode;
    const reason = termination?.reason ?? c.reason;
    c.last = {
      exitCode,
      reason,
      ...(termination?.message ? { message: termination.message } : {}),
      ...(exitCode > 128 ? { signal: exitCode - 128 } : {}),
      startedAt: c.startedAt,
      finishedAt: nowIso(),
    };
    c.restartCount += 1;
    c.state = "waiting";
  }

  function tick(sim: PodSim): void {
    let changed = false;
    for (const c of sim.containers) {
      if (!c.crashes) continue;
      if (c.state === "running" && c.restartCount < maxRestarts) {
        crash(sim, c);
        changed = true;
      } else if (c.state === "waiting" && c.restartCount < maxRestarts) {
        c.state = "running";
        c.startedAt = nowIso();
        changed = true;
      }
    }
    if (changed) void pushStatus(sim);
  }

  async function runLocally(sim: PodSim, pod: V1Pod): Promise<void> {
    const spec = pod.spec?.containers[0];
    const c = sim.containers[0];
    if (!spec || !c) return;
    const argv = [...(spec.command ?? []), ...(spec.args ?? [])];
    const [command, ...args] =
      argv[0] === "podmortem"
        ? [
            path.resolve(import.meta.dirname, "..", "..", "node_modules", ".bin", "node"),
            path.resolve(import.meta.dirname, "..", "..", "bin", "podmortem.js"),
            ...argv.slice(1),
          ]
        : argv;
    const terminationLog = path.join(checkpointDir, `.termination-${sim.uid}`);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PODMORTEM_TERMINATION_LOG: terminationLog,
      TERMINATION_MESSAGE_PATH: terminationLog,
    };
    for (const variable of spec.env ?? [])
      if (variable.value !== undefined) env[variable.name] = variable.value;
    // Like a kubelet, resolve Secret references before the process starts.
    for (const source of spec.envFrom ?? []) {
      const secretName = source.secretRef?.name;
      if (!secretName) continue;
      try {
        const secret = await core.readNamespacedSecret({
          name: secretName,
          namespace: sim.namespace,
        });
        for (const [key, value] of Object.entries(secret.data ?? {})) {
          env[key] = Buffer.from(value, "base64").toString("utf8");
        }
      } catch {
        // a missing optional secret leaves the variables unset
      }
    }
    const child = spawn(command!, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    sim.process = child;
    const output: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => output.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => output.push(chunk));
    child.once("exit", (code, signal) => {
      void (async () => {
        const message = await readFile(terminationLog, "utf8").catch(() => "");
        c.logs.set(0, Buffer.concat(output));
        c.current = {
          exitCode: code ?? (signal ? 128 + 9 : 1),
          reason: code === 0 ? "Completed" : "Error",
          ...(message ? { message } : {}),
          startedAt: c.startedAt,
          finishedAt: nowIso(),
        };
        c.state = "terminated";
        sim.phase = code === 0 ? "Succeeded" : "Failed";
        await pushStatus(sim);
      })();
    });
  }

  function startPod(pod: V1Pod): void {
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const scenario = scenarioOf(pod, options);
    const startedAt = nowIso();
    const regular = pod.spec?.containers ?? [];
    const init = pod.spec?.initContainers ?? [];
    const make = (
      spec: { name: string; image?: string },
      kind: "init" | "regular",
      index: number,
    ): ContainerSim => {
      const crashes =
        (kind === "regular" && ["crashloop", "oomkilled"].includes(scenario)) ||
        (kind === "regular" && scenario === "multi-container" && index === regular.length - 1) ||
        (kind === "init" && scenario === "init-crash" && index === 0);
      const oom = scenario === "oomkilled";
      let state: ContainerSim["state"] = "running";
      if (scenario === "imagepullbackoff") state = "pulling";
      if (scenario === "createcontainererror") state = "createerror";
      if (kind === "init" && !crashes) state = "terminated";
      return {
        name: spec.name,
        image: spec.image ?? "",
        kind,
        crashes,
        exitCode: oom ? 137 : 1,
        reason: oom ? "OOMKilled" : "Error",
        restartCount: 0,
        state,
        startedAt,
        last: undefined,
        current:
          kind === "init" && !crashes
            ? { exitCode: 0, reason: "Completed", startedAt, finishedAt: startedAt }
            : undefined,
        logs: new Map(),
      };
    };
    const sim: PodSim = {
      namespace,
      name,
      uid: pod.metadata!.uid!,
      node: pod.spec!.nodeName!,
      scenario,
      containers: [
        ...init.map((c, i) => make(c, "init", i)),
        ...regular.map((c, i) => make(c, "regular", i)),
      ],
      phase: scenario === "init-crash" ? "Pending" : "Running",
      updates: Promise.resolve(),
      stopped: false,
    };
    if (scenario === "init-crash")
      for (const c of sim.containers) if (c.kind === "regular") c.state = "initializing";
    if (scenario === "evicted") {
      sim.phase = "Failed";
      sim.reason = "Evicted";
      sim.message =
        "The node was low on resource: memory. Container app was using 1Gi, which exceeds its request of 0.";
      for (const c of sim.containers) {
        c.state = "terminated";
        c.current = { exitCode: 137, reason: "Error", startedAt, finishedAt: nowIso() };
      }
    }
    sims.set(key(namespace, name), sim);
    const local = regular.some((c) => c.image === localImage);
    void pushStatus(sim);
    if (local) void runLocally(sim, pod);
    else if (sim.containers.some((c) => c.crashes))
      sim.timer = setInterval(() => tick(sim), intervalMs);
  }

  function stopPod(namespace: string, name: string): void {
    const sim = sims.get(key(namespace, name));
    if (!sim) return;
    sim.stopped = true;
    clearInterval(sim.timer);
    sim.process?.kill("SIGKILL");
    sims.delete(key(namespace, name));
  }

  const informer = makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces());
  const onPod = (pod: V1Pod) => {
    const namespace = pod.metadata?.namespace;
    const name = pod.metadata?.name;
    if (!namespace || !name) return;
    const existing = sims.get(key(namespace, name));
    if (existing && existing.uid !== pod.metadata?.uid) stopPod(namespace, name);
    if (pod.metadata?.deletionTimestamp) {
      stopPod(namespace, name);
      // No real kubelet to finish the graceful deletion: finish it ourselves.
      void core
        .deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 })
        .catch(() => undefined);
      return;
    }
    if (!pod.spec?.nodeName) {
      const node = options.nodes[nextNode++ % options.nodes.length]!;
      void core
        .createNamespacedPodBinding({
          name,
          namespace,
          body: { metadata: { name }, target: { apiVersion: "v1", kind: "Node", name: node } },
        })
        .catch(() => undefined);
      return;
    }
    if (!options.nodes.includes(pod.spec.nodeName)) return;
    if (!sims.has(key(namespace, name))) startPod(pod);
  };
  informer.on("add", onPod);
  informer.on("update", onPod);
  informer.on("delete", (pod: V1Pod) =>
    stopPod(pod.metadata?.namespace ?? "", pod.metadata?.name ?? ""),
  );
  informer.on("error", () => {
    setTimeout(() => void informer.start().catch(() => undefined), 1000).unref();
  });
  await informer.start();

  const find = (namespace: string, pod: string, container: string) => {
    const sim = sims.get(key(namespace, pod));
    const c = sim?.containers.find((candidate) => candidate.name === container);
    if (!sim || !c)
      throw new Error(`the fake kubelet runs no container ${namespace}/${pod}/${container}`);
    return { sim, c };
  };

  return {
    port,
    nodes: options.nodes,
    checkpointDir,
    previousLog(namespace, pod, container) {
      const { sim, c } = find(namespace, pod, container);
      return instanceLog(sim, c, c.restartCount - 1);
    },
    currentLog(namespace, pod, container) {
      const { sim, c } = find(namespace, pod, container);
      return instanceLog(sim, c, c.restartCount);
    },
    setLog(namespace, pod, container, logs) {
      const { c } = find(namespace, pod, container);
      if (logs.previous !== undefined) c.logs.set(c.restartCount - 1, Buffer.from(logs.previous));
      if (logs.current !== undefined) c.logs.set(c.restartCount, Buffer.from(logs.current));
    },
    async crashNow(namespace, pod, container, termination) {
      const { sim, c } = find(namespace, pod, container);
      crash(sim, c, termination);
      await pushStatus(sim);
    },
    restartCount: (namespace, pod, container) => find(namespace, pod, container).c.restartCount,
    async runNow(namespace, pod, container) {
      const { sim, c } = find(namespace, pod, container);
      c.state = "running";
      c.startedAt = nowIso();
      await pushStatus(sim);
    },
    checkpointRequests: () => checkpoints,
    async settle() {
      await Promise.all([...sims.values()].map((sim) => sim.updates));
    },
    async [Symbol.asyncDispose]() {
      await informer.stop();
      for (const sim of [...sims.values()]) stopPod(sim.namespace, sim.name);
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      if (!options.checkpointDir) await rm(checkpointDir, { recursive: true, force: true });
    },
  };
}
