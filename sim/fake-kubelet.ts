import {
  CoreV1Api,
  PatchStrategy,
  type KubeConfig,
  makeInformer,
  setHeaderOptions,
  type V1Container,
  type V1ContainerStatus,
  type V1Pod,
  type V1PodCondition,
  type V1PodStatus,
} from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { kubeHttpFor } from "../src/k8s/kube-http.ts";
import type { KubeCluster } from "./kube-cluster.ts";
import { startKubeletServer, type KubeletBackend } from "./kubelet-server.ts";
import { startLocalContainer, type LocalContainer, type LocalExit } from "./local-container.ts";

export const SCENARIOS = [
  "healthy",
  "crashloop",
  "oomkilled",
  "imagepullbackoff",
  "errimagepull",
  "createcontainererror",
  "init-crash",
  "multi-container",
  "evicted",
] as const;
export type Scenario = (typeof SCENARIOS)[number];
/** On a pod (or its template): which scenario the fake kubelet plays for it. */
export const SCENARIO_ANNOTATION = "fake-kubelet/scenario";
/** On a pod: `local` runs every container's command as a local process. */
export const RUN_ANNOTATION = "fake-kubelet/run";

export type FakeKubeletOptions = {
  nodes: string[];
  /** Where checkpoint archives are written; a temp folder (removed at the end) by default. */
  checkpointDir?: string;
  /** false: the checkpoint endpoint answers 404, as without the ContainerCheckpoint gate. */
  checkpointEnabled?: boolean;
  /** Size of checkpoint/pages-1.img in each archive (streamed: GiBs are fine). 256 KiB. */
  checkpointBytes?: number;
  /** How long a crashing container runs, and how long it then waits in back-off. 1500 ms. */
  restartIntervalMs?: number;
  /**
   * A crash-looping container stops restarting (stays in CrashLoopBackOff) after this many restarts
   * under this fake kubelet. 6.
   */
  maxRestarts?: number;
  /** Containers with this image run their command locally. "podmortem:dev". */
  localImage?: string;
  /** Overrides the annotation; undefined falls back to it. */
  scenarioFor?: (pod: V1Pod) => Scenario | undefined;
  /**
   * The caller's kubeconfig, so the process shares one connection to the API server (see
   * src/k8s/kube-http.ts); the cluster's own by default.
   */
  kubeConfig?: KubeConfig;
};

export type TerminationInput = {
  exitCode?: number;
  reason?: string;
  signal?: number;
  message?: string;
};

export type FakeKubelet = AsyncDisposable & {
  /** The HTTPS port of the kubelet API on 127.0.0.1, in every Node's daemonEndpoints. */
  port: number;
  nodes: string[];
  checkpointDir: string;
  /** The log the previous instance (restartCount - 1) wrote: what `previous=true` returns. */
  previousLog(namespace: string, pod: string, container: string): Buffer;
  currentLog(namespace: string, pod: string, container: string): Buffer;
  setLog(
    namespace: string,
    pod: string,
    container: string,
    logs: { current?: string | Buffer; previous?: string | Buffer },
  ): void;
  /** Terminates the running instance now (default exit 1, Error) and reports it. */
  crashNow(
    namespace: string,
    pod: string,
    container: string,
    termination?: TerminationInput,
  ): Promise<void>;
  /** Switches a running pod to another scenario; restart counts and logs carry over. */
  setScenario(namespace: string, pod: string, scenario: Scenario): Promise<void>;
  restartCount(namespace: string, pod: string, container: string): number;
  /** Starts the container again now: a crash loop's running window, when checkpoints work. */
  runNow(namespace: string, pod: string, container: string): Promise<void>;
  checkpointRequests(): number;
  /** The container waits with this reason and message, as the runtime reports it (pull errors). */
  waitNow(
    namespace: string,
    pod: string,
    container: string,
    waiting: { reason: string; message: string },
  ): Promise<void>;
  /** Posts an Event about the pod (or one of its containers) as the kubelet does. */
  recordEvent(namespace: string, pod: string, event: KubeletEventInput): Promise<void>;
  /**
   * The container's log requests answer this status (a 404 as for a container of a pod being
   * deleted, a 500 as from a struggling runtime), `times` times or until cleared with undefined.
   */
  failLogs(
    namespace: string,
    pod: string,
    container: string,
    answer: { status: number; times?: number } | undefined,
  ): void;
  /** Log requests the kubelet received for this container, failed ones included. */
  logRequests(namespace: string, pod: string, container: string): number;
  /** The next checkpoint request for the container finds it just stopped (crashes it, then 404). */
  stopBeforeCheckpoint(namespace: string, pod: string, container: string): void;
  /** Waits until the fake kubelet has written every status update it has queued. */
  settle(): Promise<void>;
};

export type KubeletEventInput = {
  reason: string;
  message: string;
  type?: "Normal" | "Warning";
  container?: string;
  count?: number;
};

type Termination = {
  exitCode: number;
  reason: string;
  message?: string;
  signal?: number;
  startedAt: string;
  finishedAt: string;
  instance: number;
};

type ContainerState =
  | { kind: "running" }
  | { kind: "waiting"; reason: string; message?: string }
  | { kind: "terminated"; termination: Termination };

type ContainerSim = {
  spec: V1Container;
  name: string;
  image: string;
  kind: "init" | "regular";
  local: boolean;
  crashes: boolean;
  exitCode: number;
  reason: string;
  restartCount: number;
  /** The restart count the pod's status already showed when this fake kubelet took it over. */
  resumedFrom: number;
  state: ContainerState;
  /** Start of the current instance (restartCount). */
  startedAt: string;
  last: Termination | undefined;
  /** Logs by instance, when a test set them or a local process wrote them. */
  logs: Map<number, Buffer>;
  process?: LocalContainer;
  restartTimer?: NodeJS.Timeout;
};

type PodSim = {
  pod: V1Pod;
  namespace: string;
  name: string;
  uid: string;
  podIP: string;
  startTime: string;
  scenario: Scenario;
  containers: ContainerSim[];
  evicted: boolean;
  deadlineExceeded: boolean;
  conditionsSince: Map<string, { status: string; since: string }>;
  timers: NodeJS.Timeout[];
  ticking: boolean;
  updates: Promise<void>;
  stopped: boolean;
};

const DEFAULT_CHECKPOINT_BYTES = 256 * 1024;
const LOCAL_LOG_MAX_BYTES = 8 * 1024 * 1024;
const STOP_GRACE_MS = 2000;
const EVICTION_MESSAGE =
  "The node was low on resource: memory. Container app was using 1Gi, which exceeds its request of 0.";

const key = (namespace: string, pod: string) => `${namespace}/${pod}`;
const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
const asTime = (iso: string) => iso as unknown as Date;

function containerID(sim: PodSim, c: ContainerSim, instance: number): string {
  return `containerd://${createHash("sha256").update(`${sim.uid}/${c.name}/${instance}`).digest("hex")}`;
}

/** Deterministic per pod, container and instance, so a test can say what a log must be. */
function defaultLog(sim: PodSim, c: ContainerSim, instance: number): Buffer {
  const lines = [`starting ${sim.namespace}/${sim.name} container ${c.name} instance ${instance}`];
  for (let i = 1; i <= 20; i += 1) lines.push(`${c.name}[${instance}] working on item ${i}`);
  if (c.crashes) lines.push(`${c.name}[${instance}] fatal: ${c.reason} (exit ${c.exitCode})`);
  return Buffer.from(`${lines.join("\n")}\n`);
}

function instanceLog(sim: PodSim, c: ContainerSim, instance: number): Buffer {
  return c.logs.get(instance) ?? (c.local ? Buffer.alloc(0) : defaultLog(sim, c, instance));
}

function isScenario(value: string | undefined): value is Scenario {
  return (SCENARIOS as readonly string[]).includes(value ?? "");
}

/** What only a kubelet does: node registration, pod status, logs, checkpoints, running pods. */
export async function startFakeKubelet(
  cluster: KubeCluster,
  options: FakeKubeletOptions,
): Promise<FakeKubelet> {
  if (options.nodes.length === 0) throw new Error("the fake kubelet needs at least one node");
  const kc = options.kubeConfig ?? cluster.kubeConfig();
  const core = kubeHttpFor(kc).apiClient(CoreV1Api);
  const intervalMs = options.restartIntervalMs ?? 1500;
  const maxRestarts = options.maxRestarts ?? 6;
  const localImage = options.localImage ?? "podmortem:dev";
  const checkpointDir =
    options.checkpointDir ?? (await mkdtemp(path.join(os.tmpdir(), "podmortem-checkpoints-")));
  await mkdir(checkpointDir, { recursive: true });
  const workDir = await mkdtemp(path.join(os.tmpdir(), "podmortem-kubelet-"));
  const sims = new Map<string, PodSim>();
  let nextNode = 0;
  let nextPodIP = 0;
  let disposed = false;

  const findPod = (namespace: string, pod: string) => {
    const sim = sims.get(key(namespace, pod));
    if (!sim) throw new Error(`the fake kubelet runs no pod ${namespace}/${pod}`);
    return sim;
  };
  const find = (namespace: string, pod: string, container: string) => {
    const sim = findPod(namespace, pod);
    const c = sim.containers.find((candidate) => candidate.name === container);
    if (!c) throw new Error(`the fake kubelet runs no container ${namespace}/${pod}/${container}`);
    return { sim, c };
  };

  const failingLogs = new Map<string, { status: number; times: number }>();
  const logRequestCounts = new Map<string, number>();
  const stopsBeforeCheckpoint = new Set<string>();
  const containerKey = (namespace: string, pod: string, container: string) =>
    `${namespace}/${pod}/${container}`;

  const backend: KubeletBackend = {
    containerLog(namespace, pod, container, previous) {
      const id = containerKey(namespace, pod, container);
      logRequestCounts.set(id, (logRequestCounts.get(id) ?? 0) + 1);
      const failing = failingLogs.get(id);
      if (failing) {
        failing.times -= 1;
        if (failing.times <= 0) failingLogs.delete(id);
        return {
          status: failing.status,
          message: `container "${container}" answered ${failing.status}`,
        };
      }
      const sim = sims.get(key(namespace, pod));
      const c = sim?.containers.find((candidate) => candidate.name === container);
      if (!sim || !c) return { status: 404, message: `pod ${namespace}/${pod} not found` };
      if (previous) {
        if (!c.last)
          return {
            status: 400,
            message: `previous terminated container "${container}" in pod "${pod}" not found`,
          };
        return { log: instanceLog(sim, c, c.last.instance), startedAt: c.last.startedAt };
      }
      if (c.state.kind !== "waiting")
        return { log: instanceLog(sim, c, c.restartCount), startedAt: c.startedAt };
      if (c.last) return { log: instanceLog(sim, c, c.last.instance), startedAt: c.last.startedAt };
      const why: Record<string, string> = {
        ErrImagePull: "image can't be pulled",
        ImagePullBackOff: "trying and failing to pull image",
      };
      return {
        status: 400,
        message: `container "${container}" in pod "${pod}" is waiting to start: ${why[c.state.reason] ?? c.state.reason}`,
      };
    },
    runningContainer(namespace, pod, container) {
      const sim = sims.get(key(namespace, pod));
      const c = sim?.containers.find((candidate) => candidate.name === container);
      if (!sim || !c || c.state.kind !== "running") return undefined;
      return { podUID: sim.uid, image: c.image, containerID: containerID(sim, c, c.restartCount) };
    },
    async beforeCheckpoint(namespace, pod, container) {
      const id = containerKey(namespace, pod, container);
      if (!stopsBeforeCheckpoint.delete(id)) return;
      const { sim, c } = find(namespace, pod, container);
      crash(c, terminate(c, { exitCode: 1, reason: "Error" }));
      await pushStatus(sim);
    },
  };
  const server = await startKubeletServer({
    certFile: cluster.serverCertFile,
    keyFile: cluster.serverKeyFile,
    backend,
    checkpointDir,
    checkpointEnabled: options.checkpointEnabled ?? true,
    checkpointBytes: options.checkpointBytes ?? DEFAULT_CHECKPOINT_BYTES,
  });

  for (const node of options.nodes) await registerNode(core, node, server.port);

  function renderContainer(sim: PodSim, c: ContainerSim): V1ContainerStatus {
    const pulled = !(c.state.kind === "waiting" && /ImagePull|ErrImage/.test(c.state.reason));
    const terminated = (t: Termination) => ({
      exitCode: t.exitCode,
      reason: t.reason,
      ...(t.message ? { message: t.message } : {}),
      ...(t.signal ? { signal: t.signal } : {}),
      startedAt: asTime(t.startedAt),
      finishedAt: asTime(t.finishedAt),
      containerID: containerID(sim, c, t.instance),
    });
    const status: V1ContainerStatus = {
      name: c.name,
      image: c.image,
      imageID: pulled
        ? `${c.image.replace(/:[^:/]*$/, "")}@sha256:${createHash("sha256").update(c.image).digest("hex")}`
        : "",
      ready: c.state.kind === "running" && c.kind === "regular",
      restartCount: c.restartCount,
      started: c.state.kind === "running",
      state: {},
      lastState: c.last ? { terminated: terminated(c.last) } : {},
    };
    const id =
      c.state.kind === "running" || c.state.kind === "terminated"
        ? containerID(sim, c, c.restartCount)
        : c.last && containerID(sim, c, c.last.instance);
    if (id) status.containerID = id;
    if (c.state.kind === "running") status.state = { running: { startedAt: asTime(c.startedAt) } };
    if (c.state.kind === "waiting")
      status.state = {
        waiting: {
          reason: c.state.reason,
          ...(c.state.message ? { message: c.state.message } : {}),
        },
      };
    if (c.state.kind === "terminated")
      status.state = { terminated: terminated(c.state.termination) };
    return status;
  }

  function phaseOf(sim: PodSim): string {
    if (sim.evicted || sim.deadlineExceeded) return "Failed";
    const init = sim.containers.filter((c) => c.kind === "init");
    const regular = sim.containers.filter((c) => c.kind === "regular");
    const initDone = init.every(
      (c) => c.state.kind === "terminated" && c.state.termination.exitCode === 0,
    );
    if (!initDone) return "Pending";
    const final = regular.map((c) => (c.state.kind === "terminated" ? c.state.termination : null));
    if (final.every(Boolean)) return final.every((t) => t!.exitCode === 0) ? "Succeeded" : "Failed";
    if (regular.every((c) => c.state.kind === "waiting" && c.restartCount === 0 && !c.last))
      return "Pending";
    return "Running";
  }

  function condition(sim: PodSim, type: string, ok: boolean, reason?: string): V1PodCondition {
    const status = ok ? "True" : "False";
    const previous = sim.conditionsSince.get(type);
    const since = previous?.status === status ? previous.since : nowIso();
    sim.conditionsSince.set(type, { status, since });
    return {
      type,
      status,
      lastTransitionTime: asTime(since),
      ...(!ok && reason ? { reason } : {}),
    };
  }

  function renderStatus(sim: PodSim): V1PodStatus {
    const init = sim.containers.filter((c) => c.kind === "init");
    const regular = sim.containers.filter((c) => c.kind === "regular");
    const initialized = init.every(
      (c) => c.state.kind === "terminated" && c.state.termination.exitCode === 0,
    );
    const ready = regular.every((c) => c.state.kind === "running");
    const phase = phaseOf(sim);
    return {
      phase,
      ...(sim.evicted ? { reason: "Evicted", message: EVICTION_MESSAGE } : {}),
      ...(sim.deadlineExceeded
        ? {
            reason: "DeadlineExceeded",
            message: "Pod was active on the node longer than the specified deadline",
          }
        : {}),
      hostIP: "127.0.0.1",
      podIP: sim.podIP,
      podIPs: [{ ip: sim.podIP }],
      startTime: asTime(sim.startTime),
      conditions: [
        condition(sim, "Initialized", initialized, "ContainersNotInitialized"),
        condition(sim, "Ready", ready && phase === "Running", "ContainersNotReady"),
        condition(sim, "ContainersReady", ready && phase === "Running", "ContainersNotReady"),
        condition(sim, "PodScheduled", true),
      ],
      ...(init.length ? { initContainerStatuses: init.map((c) => renderContainer(sim, c)) } : {}),
      containerStatuses: regular.map((c) => renderContainer(sim, c)),
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

  function terminate(c: ContainerSim, input: TerminationInput = {}): Termination {
    const exitCode = input.exitCode ?? c.exitCode;
    const signal = input.signal ?? (exitCode > 128 ? exitCode - 128 : undefined);
    return {
      exitCode,
      reason:
        input.reason ??
        (input.exitCode === undefined ? c.reason : exitCode === 0 ? "Completed" : "Error"),
      ...(input.message ? { message: input.message } : {}),
      ...(signal ? { signal } : {}),
      startedAt: c.startedAt,
      finishedAt: nowIso(),
      instance: c.restartCount,
    };
  }

  /** The instance ends and the kubelet backs off before the next: CrashLoopBackOff. */
  function crash(c: ContainerSim, termination: Termination): void {
    c.last = termination;
    c.restartCount += 1;
    c.state = {
      kind: "waiting",
      reason: "CrashLoopBackOff",
      message: `back-off ${Math.round(intervalMs / 1000)}s restarting failed container=${c.name}`,
    };
  }

  const backingOff = (c: ContainerSim) =>
    c.state.kind === "waiting" && c.state.reason === "CrashLoopBackOff";

  function start(c: ContainerSim): void {
    c.state = { kind: "running" };
    c.startedAt = nowIso();
  }

  function tick(sim: PodSim): void {
    let changed = false;
    for (const c of sim.containers) {
      if (!c.crashes || c.local || c.restartCount - c.resumedFrom >= maxRestarts) continue;
      if (c.state.kind === "running") crash(c, terminate(c));
      else if (c.state.kind === "waiting" && c.state.reason === "CrashLoopBackOff") start(c);
      else continue;
      changed = true;
    }
    if (changed) void pushStatus(sim);
  }

  /** Sets what each container does under the scenario, keeping counts, logs and last states. */
  function applyScenario(sim: PodSim, scenario: Scenario): void {
    applyScenarioStates(sim, scenario);
    if (!sim.ticking && sim.containers.some((c) => c.crashes && !c.local)) {
      sim.ticking = true;
      sim.timers.push(setInterval(() => tick(sim), intervalMs));
    }
  }

  function applyScenarioStates(sim: PodSim, scenario: Scenario): void {
    sim.scenario = scenario;
    sim.evicted = scenario === "evicted";
    const regular = sim.containers.filter((c) => c.kind === "regular");
    const init = sim.containers.filter((c) => c.kind === "init");
    for (const c of sim.containers) {
      const index = (c.kind === "init" ? init : regular).indexOf(c);
      c.crashes =
        (c.kind === "regular" && (scenario === "crashloop" || scenario === "oomkilled")) ||
        (c.kind === "regular" && scenario === "multi-container" && index === regular.length - 1) ||
        (c.kind === "init" && scenario === "init-crash" && index === 0);
      c.exitCode = scenario === "oomkilled" ? 137 : 1;
      c.reason = scenario === "oomkilled" ? "OOMKilled" : "Error";
      if (c.local) continue;
      if (c.kind === "init") {
        if (c.crashes && !backingOff(c)) start(c);
        if (!c.crashes)
          c.state = {
            kind: "terminated",
            termination: terminate(c, { exitCode: 0, reason: "Completed" }),
          };
        continue;
      }
      if (scenario === "imagepullbackoff")
        c.state = {
          kind: "waiting",
          reason: "ImagePullBackOff",
          message: `Back-off pulling image "${c.image}"`,
        };
      else if (scenario === "errimagepull")
        c.state = {
          kind: "waiting",
          reason: "ErrImagePull",
          message: `rpc error: code = NotFound desc = failed to pull and unpack image "${c.image}": not found`,
        };
      else if (scenario === "createcontainererror")
        c.state = {
          kind: "waiting",
          reason: "CreateContainerError",
          message: `failed to create containerd container: mount ${c.name}: no such file or directory`,
        };
      else if (scenario === "init-crash") c.state = { kind: "waiting", reason: "PodInitializing" };
      else if (scenario === "evicted")
        c.state = {
          kind: "terminated",
          termination: terminate(c, { exitCode: 137, reason: "Error", signal: 9 }),
        };
      else if (c.state.kind !== "running" && !(c.crashes && backingOff(c))) start(c);
    }
  }

  async function runLocal(sim: PodSim, c: ContainerSim): Promise<void> {
    start(c);
    const instance = c.restartCount;
    c.logs.set(instance, Buffer.alloc(0));
    const append = (chunk: Buffer) => {
      let log = Buffer.concat([c.logs.get(instance) ?? Buffer.alloc(0), chunk]);
      if (log.length > LOCAL_LOG_MAX_BYTES) log = log.subarray(log.length - LOCAL_LOG_MAX_BYTES);
      c.logs.set(instance, log);
    };
    try {
      c.process = await startLocalContainer({
        core,
        pod: sim.pod,
        podIP: sim.podIP,
        container: c.spec,
        workDir,
        onOutput: append,
        readOutput: () => c.logs.get(instance) ?? Buffer.alloc(0),
      });
    } catch (error) {
      c.state = {
        kind: "waiting",
        reason: "CreateContainerError",
        message: (error as Error).message,
      };
      void pushStatus(sim);
      return;
    }
    // Deleted while its environment was being resolved: stopPod saw no process to stop.
    if (sim.stopped) await c.process.stop(STOP_GRACE_MS);
    void pushStatus(sim);
    void c.process.exited.then((exit) => onLocalExit(sim, c, exit));
  }

  function onLocalExit(sim: PodSim, c: ContainerSim, exit: LocalExit): void {
    c.process = undefined;
    if (sim.stopped) return;
    const termination = terminate(c, exit);
    const policy = sim.pod.spec?.restartPolicy ?? "Always";
    const final =
      sim.deadlineExceeded ||
      policy === "Never" ||
      (policy === "OnFailure" && exit.exitCode === 0) ||
      c.restartCount - c.resumedFrom >= maxRestarts;
    if (final) c.state = { kind: "terminated", termination };
    else {
      crash(c, termination);
      const timer = setTimeout(() => void runLocal(sim, c), intervalMs);
      sim.timers.push(timer);
    }
    void pushStatus(sim);
  }

  function startPod(pod: V1Pod): void {
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const runAllLocally = pod.metadata?.annotations?.[RUN_ANNOTATION] === "local";
    const startTime = nowIso();
    // A pod that already ran (the demo restarted on its kept etcd) goes on counting, as a real
    // kubelet does after its own restart: new instances get new container IDs.
    const earlier = [
      ...(pod.status?.initContainerStatuses ?? []),
      ...(pod.status?.containerStatuses ?? []),
    ];
    const restartsBefore = (name: string) =>
      earlier.find((status) => status.name === name)?.restartCount ?? 0;
    const make = (spec: V1Container, kind: "init" | "regular"): ContainerSim => ({
      spec,
      name: spec.name,
      image: spec.image ?? "",
      kind,
      local: kind === "regular" && (runAllLocally || spec.image === localImage),
      crashes: false,
      exitCode: 1,
      reason: "Error",
      restartCount: restartsBefore(spec.name),
      resumedFrom: restartsBefore(spec.name),
      state: { kind: "waiting", reason: "ContainerCreating" },
      startedAt: startTime,
      last: undefined,
      logs: new Map(),
    });
    nextPodIP += 1;
    const sim: PodSim = {
      pod,
      namespace,
      name,
      uid: pod.metadata!.uid!,
      podIP: `10.1.${Math.floor(nextPodIP / 250) % 250}.${(nextPodIP % 250) + 2}`,
      startTime,
      scenario: "healthy",
      containers: [
        ...(pod.spec?.initContainers ?? []).map((c) => make(c, "init")),
        ...(pod.spec?.containers ?? []).map((c) => make(c, "regular")),
      ],
      evicted: false,
      deadlineExceeded: false,
      conditionsSince: new Map(),
      timers: [],
      ticking: false,
      updates: Promise.resolve(),
      stopped: false,
    };
    const annotated = pod.metadata?.annotations?.[SCENARIO_ANNOTATION];
    applyScenario(
      sim,
      options.scenarioFor?.(pod) ?? (isScenario(annotated) ? annotated : "healthy"),
    );
    sims.set(key(namespace, name), sim);
    const deadlineS = pod.spec?.activeDeadlineSeconds;
    if (deadlineS) sim.timers.push(setTimeout(() => void exceedDeadline(sim), deadlineS * 1000));
    void pushStatus(sim);
    for (const c of sim.containers) if (c.local) void runLocal(sim, c);
    void checkConfigRefs(sim);
  }

  /**
   * Like the kubelet, a container whose env reads a Secret or ConfigMap (or a key of one) that
   * does not exist waits in CreateContainerConfigError, and a Failed event says which.
   */
  async function checkConfigRefs(sim: PodSim): Promise<void> {
    for (const c of sim.containers) {
      if (c.local) continue;
      const problem = await missingConfigRef(sim.namespace, c.spec);
      if (!problem || sim.stopped) continue;
      c.state = { kind: "waiting", reason: "CreateContainerConfigError", message: problem };
      c.crashes = false;
      await postEvent(sim, { reason: "Failed", message: `Error: ${problem}`, container: c.name });
      void pushStatus(sim);
    }
  }

  async function missingConfigRef(
    namespace: string,
    spec: V1Container,
  ): Promise<string | undefined> {
    for (const env of spec.env ?? []) {
      const secret = env.valueFrom?.secretKeyRef;
      const configMap = env.valueFrom?.configMapKeyRef;
      const ref = secret ?? configMap;
      if (!ref?.name || ref.optional) continue;
      const kind = secret ? "Secret" : "ConfigMap";
      let data: Record<string, string> | undefined;
      try {
        const object = secret
          ? await core.readNamespacedSecret({ name: ref.name, namespace })
          : await core.readNamespacedConfigMap({ name: ref.name, namespace });
        data = {
          ...(object.data ?? {}),
          ...((object as { stringData?: Record<string, string> }).stringData ?? {}),
        };
      } catch (error) {
        if ((error as { code?: number }).code === 404)
          return `${kind.toLowerCase()} "${ref.name}" not found`;
        continue;
      }
      if (!(ref.key in data))
        return `couldn't find key ${ref.key} in ${kind} ${namespace}/${ref.name}`;
    }
    return undefined;
  }

  async function postEvent(sim: PodSim, input: KubeletEventInput): Promise<void> {
    const now = new Date();
    await core.createNamespacedEvent({
      namespace: sim.namespace,
      body: {
        metadata: {
          name: `${sim.name}.${now.getTime().toString(16)}${Math.random().toString(16).slice(2, 8)}`,
        },
        involvedObject: {
          kind: "Pod",
          apiVersion: "v1",
          namespace: sim.namespace,
          name: sim.name,
          uid: sim.uid,
          ...(input.container
            ? {
                fieldPath: `spec.${sim.containers.find((c) => c.name === input.container)?.kind === "init" ? "initContainers" : "containers"}{${input.container}}`,
              }
            : {}),
        },
        reason: input.reason,
        message: input.message,
        type: input.type ?? "Warning",
        count: input.count ?? 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: "kubelet", host: sim.pod.spec?.nodeName ?? "" },
      },
    });
  }

  async function exceedDeadline(sim: PodSim): Promise<void> {
    if (phaseOf(sim) === "Succeeded" || phaseOf(sim) === "Failed") return;
    sim.deadlineExceeded = true;
    for (const timer of sim.timers) clearTimeout(timer);
    for (const c of sim.containers)
      if (!c.local && c.state.kind === "running")
        c.state = { kind: "terminated", termination: terminate(c, { exitCode: 137, signal: 9 }) };
    await stopProcesses(sim);
    void pushStatus(sim);
  }

  async function stopProcesses(sim: PodSim): Promise<void> {
    await Promise.all(
      sim.containers.flatMap((c) => (c.process ? [c.process.stop(STOP_GRACE_MS)] : [])),
    );
  }

  async function stopPod(namespace: string, name: string): Promise<void> {
    const sim = sims.get(key(namespace, name));
    if (!sim) return;
    sim.stopped = true;
    sims.delete(key(namespace, name));
    for (const timer of sim.timers) clearTimeout(timer);
    await stopProcesses(sim);
  }

  function bind(namespace: string, name: string): void {
    const node = options.nodes[nextNode++ % options.nodes.length]!;
    core
      .createNamespacedPodBinding({
        name,
        namespace,
        body: { metadata: { name }, target: { apiVersion: "v1", kind: "Node", name: node } },
      })
      .catch(() => undefined);
  }

  function onPod(pod: V1Pod): void {
    const namespace = pod.metadata?.namespace;
    const name = pod.metadata?.name;
    if (!namespace || !name || disposed) return;
    if (!pod.spec?.nodeName) {
      if (!pod.metadata?.deletionTimestamp) bind(namespace, name);
      return;
    }
    if (!options.nodes.includes(pod.spec.nodeName)) return;
    const existing = sims.get(key(namespace, name));
    if (existing && existing.uid !== pod.metadata?.uid) void stopPod(namespace, name);
    if (pod.metadata?.deletionTimestamp) {
      // No real kubelet finishes the graceful deletion: stop the processes, then finish it.
      void stopPod(namespace, name).then(() =>
        core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined),
      );
      return;
    }
    if (!sims.has(key(namespace, name))) startPod(pod);
  }

  const informer = makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces());
  const guarded = (handler: (pod: V1Pod) => void) => (pod: V1Pod) => {
    try {
      handler(pod);
    } catch {
      // An informer handler that throws would take the test process down.
    }
  };
  informer.on("add", guarded(onPod));
  informer.on("update", guarded(onPod));
  informer.on(
    "delete",
    guarded((pod) => {
      const existing = sims.get(key(pod.metadata?.namespace ?? "", pod.metadata?.name ?? ""));
      if (existing && existing.uid === pod.metadata?.uid)
        void stopPod(existing.namespace, existing.name);
    }),
  );
  // ListWatch stops on any error (an API server restart, say): start it again, as a kubelet would.
  let restartTimer: NodeJS.Timeout | undefined;
  informer.on("error", () => {
    if (disposed) return;
    restartTimer = setTimeout(() => {
      if (!disposed) informer.start().catch(() => undefined);
    }, 1000);
  });
  await informer.start();

  return {
    port: server.port,
    nodes: options.nodes,
    checkpointDir,
    previousLog(namespace, pod, container) {
      const { sim, c } = find(namespace, pod, container);
      if (!c.last) throw new Error(`${namespace}/${pod}/${container} has not terminated yet`);
      return instanceLog(sim, c, c.last.instance);
    },
    currentLog(namespace, pod, container) {
      const { sim, c } = find(namespace, pod, container);
      const instance = c.state.kind === "waiting" && c.last ? c.last.instance : c.restartCount;
      return instanceLog(sim, c, instance);
    },
    setLog(namespace, pod, container, logs) {
      const { c } = find(namespace, pod, container);
      if (logs.previous !== undefined)
        c.logs.set(c.last?.instance ?? c.restartCount - 1, Buffer.from(logs.previous));
      if (logs.current !== undefined) c.logs.set(c.restartCount, Buffer.from(logs.current));
    },
    async crashNow(namespace, pod, container, termination) {
      const { sim, c } = find(namespace, pod, container);
      if (c.process) {
        await c.process.stop(STOP_GRACE_MS);
        await pushStatus(sim);
        return;
      }
      crash(c, terminate(c, termination));
      await pushStatus(sim);
    },
    async setScenario(namespace, pod, scenario) {
      const sim = findPod(namespace, pod);
      applyScenario(sim, scenario);
      await pushStatus(sim);
    },
    restartCount: (namespace, pod, container) => find(namespace, pod, container).c.restartCount,
    async runNow(namespace, pod, container) {
      const { sim, c } = find(namespace, pod, container);
      start(c);
      await pushStatus(sim);
    },
    checkpointRequests: () => server.checkpointRequests(),
    async waitNow(namespace, pod, container, waiting) {
      const { sim, c } = find(namespace, pod, container);
      c.crashes = false;
      c.state = { kind: "waiting", reason: waiting.reason, message: waiting.message };
      await pushStatus(sim);
    },
    async recordEvent(namespace, pod, event) {
      await postEvent(findPod(namespace, pod), event);
    },
    failLogs(namespace, pod, container, answer) {
      const id = containerKey(namespace, pod, container);
      if (answer)
        failingLogs.set(id, {
          status: answer.status,
          times: answer.times ?? Number.POSITIVE_INFINITY,
        });
      else failingLogs.delete(id);
    },
    logRequests: (namespace, pod, container) =>
      logRequestCounts.get(containerKey(namespace, pod, container)) ?? 0,
    stopBeforeCheckpoint(namespace, pod, container) {
      stopsBeforeCheckpoint.add(containerKey(namespace, pod, container));
    },
    async settle() {
      await Promise.all([...sims.values()].map((sim) => sim.updates));
    },
    async [Symbol.asyncDispose]() {
      disposed = true;
      clearTimeout(restartTimer);
      await informer.stop();
      await Promise.all([...sims.values()].map((sim) => stopPod(sim.namespace, sim.name)));
      await server.close();
      if (!options.kubeConfig) await kubeHttpFor(kc).close();
      await rm(workDir, { recursive: true, force: true });
      if (!options.checkpointDir) await rm(checkpointDir, { recursive: true, force: true });
    },
  };
}

async function registerNode(core: CoreV1Api, node: string, port: number): Promise<void> {
  await core
    .createNode({
      body: {
        metadata: {
          name: node,
          labels: {
            "kubernetes.io/hostname": node,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
          },
        },
      },
    })
    .catch((error: unknown) => {
      if ((error as { code?: number }).code !== 409) throw error;
    });
  const now = new Date();
  await core.patchNodeStatus(
    {
      name: node,
      body: {
        status: {
          addresses: [
            { type: "InternalIP", address: "127.0.0.1" },
            { type: "Hostname", address: node },
          ],
          daemonEndpoints: { kubeletEndpoint: { Port: port } },
          // Once is enough: the controller manager runs without the node lifecycle controller.
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "KubeletReady",
              message: "fake kubelet is posting ready status",
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
          capacity: { cpu: "8", memory: "32Gi", pods: "110" },
          allocatable: { cpu: "8", memory: "32Gi", pods: "110" },
          nodeInfo: {
            architecture: "amd64",
            bootID: "",
            containerRuntimeVersion: "containerd://fake",
            kernelVersion: os.release(),
            kubeProxyVersion: "",
            kubeletVersion: "v1.20.2",
            machineID: "",
            operatingSystem: "linux",
            osImage: "fake-kubelet",
            systemUUID: "",
          },
        },
      },
    },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
}
