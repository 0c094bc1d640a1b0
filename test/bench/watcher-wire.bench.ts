import { CoreV1Api, KubeConfig, makeInformer } from "@kubernetes/client-node";
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import http2, { type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { generateClusterCertificates } from "../../sim/kube-certs.ts";
import { createLogger } from "../../src/logging.ts";
import { defaultRemoteConfig, toWatcherConfig } from "../../src/model/remote-config.ts";
import { createWatcherMetrics } from "../../watcher/metrics.ts";
import type { RestateLink } from "../../watcher/restate-link.ts";
import { createWatcher } from "../../watcher/watcher.ts";
import { rawPod } from "./synthetic-pods.ts";

/**
 * The watcher at wire speed. A local API-server-like server streams the same pre-built bytes —
 * a list of PODS realistic pods (managedFields and all), then EVENTS MODIFIED events of them —
 * to the whole watcher process (list, watch, byte filter, detection, owner lookups answered by
 * the server, dedup, batching to a local link, the audit at its production default: info lines
 * to stdout) and, in the same run, to client-node's makeInformer (parse, cache, one handler
 * call per event), and to a bare reader ("wire": the bytes through kube-http, lines counted,
 * nothing parsed: the transport's own ceiling on this machine). Each consumer is its own child
 * process, so CPU and peak RSS are its own; the server runs in the parent, on its own event
 * loop (on 2 cores it still shares the CPU with the consumer, as an API server on the same node
 * would). Over plain HTTP/1.1 and over TLS + HTTP/2 (what in-cluster gets); TLS sessions are
 * counted at the server. RUNS runs each; min/median/max. Knobs: WIRE_PODS, WIRE_EVENTS,
 * WIRE_RUNS, WIRE_TRANSPORTS (http1,tls-h2), WIRE_ROLES (watcher,informer,wire),
 * WIRE_CHILD_ARGS (extra Node flags for the consumers, e.g. --cpu-prof or
 * --max-semi-space-size=4).
 */
const PODS = Number(process.env.WIRE_PODS ?? 5000);
const EVENTS = Number(process.env.WIRE_EVENTS ?? 200_000);
const RUNS = Number(process.env.WIRE_RUNS ?? 3);
const WORKLOADS = Math.max(1, Math.floor(PODS / 4));
/** One event in 50 is a new termination: 2 %. */
const TERMINATION_EVERY = 50;
const LIST_VERSION = 1_000_000;
const LINES_PER_WRITE = 64;
const gc = (globalThis as { gc?: () => void }).gc;

type Role = "watcher" | "informer" | "wire";
type Transport = "http1" | "tls-h2";
type ChildReport = {
  doneAtMs: number;
  cpuS: number;
  /** RSS with every module loaded, before the first request: what the code alone costs. */
  startRssMiB: number;
  peakRssMiB: number;
  peaks: { heapTotalMiB: number; heapUsedMiB: number; externalMiB: number };
  settledHeapMiB: number;
  signatures?: number;
  sent?: number;
  updates?: number;
};

async function settledHeapMiB(): Promise<number> {
  for (let i = 0; i < 3; i += 1) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

const rssMiB = () => process.memoryUsage().rss / 1024 / 1024;

/**
 * Where the RSS goes while the consumer works: the most of each part, sampled every 250 ms
 * (process.memoryUsage walks the heap's spaces: ~1 % of the consumer's CPU at 100 ms).
 */
function watchMemory() {
  const peak = { heapTotalMiB: 0, heapUsedMiB: 0, externalMiB: 0 };
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    peak.heapTotalMiB = Math.max(peak.heapTotalMiB, m.heapTotal / 1048576);
    peak.heapUsedMiB = Math.max(peak.heapUsedMiB, m.heapUsed / 1048576);
    peak.externalMiB = Math.max(peak.externalMiB, m.external / 1048576);
  }, 250);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

// ---------------------------------------------------------------- the consumers (children)

async function runWatcherChild(kubeconfigPath: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const signatures = new Set<string>();
  let sent = 0;
  const link: RestateLink = {
    sendBatch: (events) => {
      sent += events.length;
      for (const event of events) signatures.add(event.signature);
      return Promise.resolve("local");
    },
    enroll: () => Promise.resolve(undefined as never),
    getConfig: () =>
      Promise.resolve({
        version: 1,
        changed: true,
        config: toWatcherConfig(defaultRemoteConfig()),
      }),
  };
  // Production defaults: log level info, the audit on the process logger (stdout).
  const log = createLogger({ name: "podmortem-watcher", level: "info" });
  const watcher = createWatcher({
    kc,
    link,
    log,
    metrics: createWatcherMetrics(),
    clusterName: "bench",
    identity: "bench",
    configPollIntervalMs: 60_000,
  });
  const done = new Promise<number>((resolve) =>
    process.once("message", (message: { doneAtMs: number }) => resolve(message.doneAtMs)),
  );
  const startRssMiB = rssMiB();
  const memory = watchMemory();
  const cpuBefore = cpuSeconds();
  await watcher.start({ clusterUID: "bench", kubernetesVersion: "", watcherVersion: "bench" });
  process.send?.({ started: true });
  const doneAtMs = await done;
  const cpuS = cpuSeconds() - cpuBefore;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const peaks = memory();
  const heap = await settledHeapMiB();
  await watcher.stop(5000);
  await kubeHttpClose(kc);
  const report: ChildReport = {
    doneAtMs,
    cpuS,
    startRssMiB,
    peakRssMiB,
    peaks,
    settledHeapMiB: heap,
    signatures: signatures.size,
    sent,
  };
  process.send?.(report, () => process.exit(0));
}

async function kubeHttpClose(kc: KubeConfig): Promise<void> {
  const { kubeHttpFor } = await import("../../src/k8s/kube-http.ts");
  await kubeHttpFor(kc).close();
}

async function runInformerChild(kubeconfigPath: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces());
  let updates = 0;
  const finished = Promise.withResolvers<number>();
  informer.on("update", () => {
    updates += 1;
    if (updates === EVENTS) finished.resolve(Date.now());
  });
  informer.on("error", (err) => finished.reject(err));
  const startRssMiB = rssMiB();
  const memory = watchMemory();
  const cpuBefore = cpuSeconds();
  await informer.start();
  process.send?.({ started: true });
  const doneAtMs = await finished.promise;
  const cpuS = cpuSeconds() - cpuBefore;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const peaks = memory();
  const heap = await settledHeapMiB();
  await informer.stop();
  const report: ChildReport = {
    doneAtMs,
    cpuS,
    startRssMiB,
    peakRssMiB,
    peaks,
    settledHeapMiB: heap,
    updates,
  };
  process.send?.(report, () => process.exit(0));
}

/** The transport's ceiling: the watch's bytes read through kube-http, lines counted, nothing parsed. */
async function runWireChild(kubeconfigPath: string): Promise<void> {
  const { kubeHttpFor } = await import("../../src/k8s/kube-http.ts");
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const http = kubeHttpFor(kc);
  const startRssMiB = rssMiB();
  const memory = watchMemory();
  const cpuBefore = cpuSeconds();
  process.send?.({ started: true });
  let lines = 0;
  const response = await http.request(`/api/v1/pods?watch=true&resourceVersion=${LIST_VERSION}`, {
    timeoutMs: 0,
    bodyTimeoutMs: 0,
  });
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    let at = chunk.indexOf(0x0a);
    while (at >= 0) {
      lines += 1;
      at = chunk.indexOf(0x0a, at + 1);
    }
  }
  const doneAtMs = Date.now();
  const cpuS = cpuSeconds() - cpuBefore;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const peaks = memory();
  const heap = await settledHeapMiB();
  await http.close();
  const report: ChildReport = {
    doneAtMs,
    cpuS,
    startRssMiB,
    peakRssMiB,
    peaks,
    settledHeapMiB: heap,
    updates: lines,
  };
  process.send?.(report, () => process.exit(0));
}

// ---------------------------------------------------------------- the bytes (built once)

type Template = { head: Buffer; mid: Buffer; tail: Buffer };
const RV_MARK = "@@RV@@";
const TIME_MARK = "@@TIME@@";

function workloadOf(i: number) {
  const w = i % WORKLOADS;
  return {
    w,
    namespace: `team-${w % 50}`,
    replicaSet: `svc-${w}-5d8f7c9b4`,
    deployment: `svc-${w}`,
  };
}

function podObject(i: number) {
  const pod = structuredClone(rawPod(i)) as ReturnType<typeof rawPod> & {
    status: { containerStatuses: Array<Record<string, unknown>> };
  };
  const { w, namespace, replicaSet } = workloadOf(i);
  pod.metadata.namespace = namespace;
  pod.metadata.name = `${replicaSet}-${i.toString(36).padStart(5, "0")}`;
  pod.metadata.labels["workload-id"] = `svc-${w}`;
  pod.metadata.ownerReferences = [
    {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      name: replicaSet,
      uid: `rs-uid-${w}`,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
  return pod;
}

type Pod = ReturnType<typeof podObject>;

function templateOf(pod: Pod): Template {
  const copy = structuredClone(pod);
  copy.metadata.resourceVersion = RV_MARK;
  const kubelet = copy.metadata.managedFields[1];
  if (kubelet) kubelet.time = TIME_MARK;
  const text = JSON.stringify(copy);
  const [head, rest] = text.split(`"${RV_MARK}"`) as [string, string];
  const [mid, tail] = rest.split(`"${TIME_MARK}"`) as [string, string];
  return { head: Buffer.from(head), mid: Buffer.from(mid), tail: Buffer.from(tail) };
}

const stampOf = (k: number) => `"${new Date(Date.UTC(2026, 11, 1) + k * 10).toISOString()}"`;

/** Every line of the watch, as which pod version it shows; built once, served every run. */
function buildPlan() {
  const pods = Array.from({ length: PODS }, (_, i) => podObject(i));
  const templates: Template[] = pods.map(templateOf);
  const current = pods.map((_, i) => i);
  const eventTemplate = new Int32Array(EVENTS);
  for (let k = 0; k < EVENTS; k += 1) {
    if (k % TERMINATION_EVERY === TERMINATION_EVERY / 2) {
      // A new termination of a pod spread over every workload.
      const p = (Math.floor(k / TERMINATION_EVERY) * 7919) % PODS;
      const pod = pods[p]!;
      const status = pod.status.containerStatuses[0]!;
      const restarts = status.restartCount + 1;
      const at = JSON.parse(stampOf(k)) as string;
      status.restartCount = restarts;
      status.ready = false;
      status.lastState = {
        terminated: {
          exitCode: (Math.floor(k / TERMINATION_EVERY) % 2) * 136 + 1,
          reason: "Error",
          startedAt: at,
          finishedAt: at,
          containerID: `containerd://${k.toString(16).padStart(64, "0")}`,
        },
      };
      status.state = {
        waiting: { reason: "CrashLoopBackOff", message: `back-off restarting failed container` },
      };
      templates.push(templateOf(pod));
      current[p] = templates.length - 1;
      eventTemplate[k] = current[p]!;
    } else {
      eventTemplate[k] = current[k % PODS]!;
    }
  }
  const initial = pods.map((_, i) => i);
  return { templates, eventTemplate, initial };
}

const plan = process.env.WIRE_ROLE ? undefined : buildPlan();
const EVENT_PREFIX = Buffer.from('{"type":"MODIFIED","object":');
const EVENT_SUFFIX = Buffer.from("}\n");

function podBytes(template: Template, rv: number, stampK: number): Buffer[] {
  return [
    template.head,
    Buffer.from(`"${rv}"`),
    template.mid,
    Buffer.from(stampOf(stampK)),
    template.tail,
  ];
}

function listPage(offset: number, limit: number): Buffer {
  const parts: Buffer[] = [];
  const end = Math.min(PODS, offset + limit);
  const next = end < PODS ? `,"continue":"${end}"` : "";
  parts.push(
    Buffer.from(
      `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"${LIST_VERSION}"${next}},"items":[`,
    ),
  );
  for (let i = offset; i < end; i += 1) {
    if (i > offset) parts.push(Buffer.from(","));
    parts.push(...podBytes(plan!.templates[plan!.initial[i]!]!, LIST_VERSION - PODS + i, -1));
  }
  parts.push(Buffer.from("]}"));
  return Buffer.concat(parts);
}

function watchBatch(from: number): Buffer {
  const parts: Buffer[] = [];
  const to = Math.min(EVENTS, from + LINES_PER_WRITE);
  for (let k = from; k < to; k += 1) {
    parts.push(
      EVENT_PREFIX,
      ...podBytes(plan!.templates[plan!.eventTemplate[k]!]!, LIST_VERSION + 1 + k, k),
      EVENT_SUFFIX,
    );
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- the API-server-like server

/** What both http and http2 compat responses offer, the one shape the handler needs. */
type Response = {
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: Buffer): boolean;
  end(body?: string | Buffer): unknown;
  once(event: "drain", listener: () => void): unknown;
};

type Run = {
  watchStartMs?: number;
  watchEndMs?: number;
  ended: PromiseWithResolvers<void>;
  ownerLookups: number;
  hanging: Set<Response>;
};

function createHandler(run: () => Run) {
  const finalVersion = String(LIST_VERSION + EVENTS);
  return (req: IncomingMessage | Http2ServerRequest, raw: ServerResponse | Http2ServerResponse) => {
    const res = raw as unknown as Response;
    const url = new URL(req.url ?? "/", "http://local");
    const current = run();
    const json = (status: number, body: string | Buffer) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(body);
    };
    const owner =
      /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(replicasets|deployments)\/([^/]+)$/.exec(
        url.pathname,
      );
    if (owner) {
      current.ownerLookups += 1;
      const [, namespace, kind, name] = owner as unknown as [string, string, string, string];
      const w = Number(/^svc-(\d+)/.exec(name)?.[1] ?? -1);
      const metadata =
        kind === "replicasets"
          ? {
              name,
              namespace,
              uid: `rs-uid-${w}`,
              ownerReferences: [
                {
                  apiVersion: "apps/v1",
                  kind: "Deployment",
                  name: `svc-${w}`,
                  uid: `dep-uid-${w}`,
                  controller: true,
                },
              ],
            }
          : { name, namespace, uid: `dep-uid-${w}` };
      json(
        200,
        JSON.stringify({ kind: kind === "replicasets" ? "ReplicaSet" : "Deployment", metadata }),
      );
      return;
    }
    if (url.pathname !== "/api/v1/pods") {
      json(404, '{"kind":"Status","code":404}');
      return;
    }
    if (url.searchParams.get("watch") !== "true") {
      const limit = Number(url.searchParams.get("limit") ?? PODS) || PODS;
      json(200, listPage(Number(url.searchParams.get("continue") ?? 0), limit));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    if (url.searchParams.get("resourceVersion") === finalVersion) {
      // Everything read and handled: the consumer asks to go on from the last version.
      current.watchEndMs ??= Date.now();
      current.hanging.add(res);
      current.ended.resolve();
      return;
    }
    if (url.searchParams.get("resourceVersion") !== String(LIST_VERSION)) {
      current.hanging.add(res);
      return;
    }
    current.watchStartMs = Date.now();
    let k = 0;
    const pump = () => {
      while (k < EVENTS) {
        const batch = watchBatch(k);
        k += LINES_PER_WRITE;
        if (!res.write(batch)) {
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    pump();
  };
}

async function startServer(transport: Transport, dir: string, run: () => Run) {
  const handler = createHandler(run);
  let sessions = 0;
  let server: http.Server | http2.Http2SecureServer;
  if (transport === "http1") {
    server = http.createServer(handler);
  } else {
    const certs = await generateClusterCertificates(dir);
    server = http2.createSecureServer(
      {
        key: readFileSync(certs.serverKey),
        cert: readFileSync(certs.serverCert),
        allowHTTP1: true,
      },
      handler,
    );
    server.on("secureConnection", () => (sessions += 1));
    writeFileSync(path.join(dir, "ca-path"), certs.caCert);
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const caFile =
    transport === "http1" ? undefined : readFileSync(path.join(dir, "ca-path"), "utf8");
  const kubeconfigPath = path.join(dir, `${transport}.kubeconfig`);
  writeFileSync(
    kubeconfigPath,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      transport === "http1"
        ? `- name: bench\n  cluster: { server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true }`
        : `- name: bench\n  cluster: { server: "https://127.0.0.1:${port}", certificate-authority: "${caFile}" }`,
      "users:",
      "- name: bench",
      '  user: { token: "bench-token" }',
      "contexts:",
      "- name: bench",
      "  context: { cluster: bench, user: bench }",
      "current-context: bench",
      "",
    ].join("\n"),
  );
  return {
    kubeconfigPath,
    sessions: () => sessions,
    close: () =>
      new Promise<void>((resolve) => {
        if ("closeAllConnections" in server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------- the runs (parent)

async function runOnce(
  role: Role,
  server: Awaited<ReturnType<typeof startServer>>,
  setRun: (run: Run) => void,
) {
  const run: Run = { ended: Promise.withResolvers<void>(), ownerLookups: 0, hanging: new Set() };
  setRun(run);
  const sessionsBefore = server.sessions();
  const child: ChildProcess = fork(import.meta.filename, [], {
    execArgv: ["--expose-gc", ...(process.env.WIRE_CHILD_ARGS?.split(" ").filter(Boolean) ?? [])],
    env: { ...process.env, WIRE_ROLE: role, WIRE_KUBECONFIG: server.kubeconfigPath },
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const report = new Promise<ChildReport>((resolve, reject) => {
    child.on("message", (message: ChildReport | { started: true }) => {
      if ("doneAtMs" in message) resolve(message);
    });
    child.once("exit", (code) => reject(new Error(`${role} exited with ${code} before reporting`)));
  });
  if (role === "watcher") {
    await Promise.race([run.ended.promise, report]);
    child.send({ doneAtMs: run.watchEndMs });
  }
  const result = await report;
  for (const res of run.hanging) res.end();
  const seconds = (result.doneAtMs - run.watchStartMs!) / 1000;
  return {
    eventsPerS: EVENTS / seconds,
    cpuS: result.cpuS,
    startRssMiB: result.startRssMiB,
    peakRssMiB: result.peakRssMiB,
    peaks: result.peaks,
    settledHeapMiB: result.settledHeapMiB,
    tlsSessions: server.sessions() - sessionsBefore,
    ownerLookups: run.ownerLookups,
    signatures: result.signatures,
    sent: result.sent,
  };
}

function spread(values: number[], digits = 1) {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (v: number) => Number(v.toFixed(digits));
  return {
    min: round(sorted[0]!),
    median: round(sorted[Math.floor(sorted.length / 2)]!),
    max: round(sorted[sorted.length - 1]!),
  };
}

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "podmortem-wire-"));
  const sample = Buffer.concat([
    EVENT_PREFIX,
    ...podBytes(plan!.templates[0]!, 1, 1),
    EVENT_SUFFIX,
  ]);
  const loadBefore = os.loadavg();
  const results: Record<string, Record<string, unknown>> = {};
  const transports = (process.env.WIRE_TRANSPORTS ?? "http1,tls-h2").split(",") as Transport[];
  const roles = (process.env.WIRE_ROLES ?? "watcher,informer,wire").split(",") as Role[];
  for (const transport of transports) {
    let current: Run | undefined;
    const server = await startServer(transport, dir, () => current!);
    const byRole: Record<Role, Awaited<ReturnType<typeof runOnce>>[]> = {
      watcher: [],
      informer: [],
      wire: [],
    };
    for (let r = 0; r < RUNS; r += 1) {
      for (const role of roles) {
        byRole[role].push(await runOnce(role, server, (run) => (current = run)));
      }
    }
    await server.close();
    const summary = (runs: Awaited<ReturnType<typeof runOnce>>[]) => ({
      eventsPerS: spread(
        runs.map((x) => x.eventsPerS),
        0,
      ),
      cpuS: spread(
        runs.map((x) => x.cpuS),
        2,
      ),
      startRssMiB: spread(runs.map((x) => x.startRssMiB)),
      peakRssMiB: spread(runs.map((x) => x.peakRssMiB)),
      peakHeapTotalMiB: spread(runs.map((x) => x.peaks.heapTotalMiB)),
      peakHeapUsedMiB: spread(runs.map((x) => x.peaks.heapUsedMiB)),
      peakExternalMiB: spread(runs.map((x) => x.peaks.externalMiB)),
      settledHeapMiB: spread(runs.map((x) => x.settledHeapMiB)),
      tlsSessions: spread(
        runs.map((x) => x.tlsSessions),
        0,
      ),
    });
    const watcher = byRole.watcher.length > 0 ? summary(byRole.watcher) : undefined;
    const informer = byRole.informer.length > 0 ? summary(byRole.informer) : undefined;
    const wire = byRole.wire.length > 0 ? summary(byRole.wire) : undefined;
    results[transport] = {
      ...(wire && { wireOnly: wire }),
      ...(watcher && {
        watcher: {
          ...watcher,
          ownerLookups: spread(
            byRole.watcher.map((x) => x.ownerLookups),
            0,
          ),
          signaturesSent: spread(
            byRole.watcher.map((x) => x.signatures ?? 0),
            0,
          ),
          eventsSent: spread(
            byRole.watcher.map((x) => x.sent ?? 0),
            0,
          ),
        },
      }),
      ...(informer && { clientNodeInformer: informer }),
      ...(watcher &&
        informer && {
          watcherOverInformer: Number(
            (watcher.eventsPerS.median / informer.eventsPerS.median).toFixed(2),
          ),
        }),
    };
  }
  const h2 = (results["tls-h2"] ?? results[transports[0]!]) as {
    watcher?: {
      eventsPerS: { median: number };
      peakRssMiB: { max: number };
      tlsSessions: { max: number };
    };
    watcherOverInformer?: number;
  };
  process.stdout.write(
    `${JSON.stringify({
      benchmark: "watcher-wire",
      includes: {
        pods: PODS,
        podJsonBytes: sample.length - EVENT_PREFIX.length - EVENT_SUFFIX.length,
        managedFields: true,
        watchEvents: EVENTS,
        eventType: "MODIFIED",
        churn: "resourceVersion and the kubelet's managedFields time change on every event",
        newTerminations: `1 event in ${TERMINATION_EVERY} (restartCount + 1, lastState.terminated, CrashLoopBackOff)`,
        workloads: WORKLOADS,
        watcher:
          "whole watcher: list, watch, byte filter, JSON.parse of changed lines, detection, owner lookups (ReplicaSet → Deployment, served by the same server), dedup, batching to a local link, audit at its production default (info to stdout)",
        informer:
          "client-node makeInformer: list, watch, JSON.parse, cache, one update handler per event",
        eventsPerS: "watch events / wall time from the watch request to the last event handled",
        cpuS: "the consumer process's user+system CPU from start (list included) to the last event",
        startRssMiB: "the consumer process's RSS with its modules loaded, before its first request",
        peakRssMiB: "the consumer process's maxRSS",
        peakHeap:
          "the most of V8's heap (total: reserved; used: live and not yet collected) and of external memory (Buffers) while it worked, sampled every 250 ms",
        settledHeapMiB: "heapUsed after gc with every pod known",
        tlsSessions: "TLS sessions the server accepted from the consumer during its run",
        runs: RUNS,
        consumerNodeFlags: `--expose-gc ${process.env.WIRE_CHILD_ARGS ?? ""}`.trim(),
        server: "the parent process (its own event loop), pre-built bytes, 64 lines a write",
      },
      machine: { cpus: os.cpus().length, loadavgBefore: loadBefore, loadavgAfter: os.loadavg() },
      results,
      targets: {
        tlsH2EventsPerS: { target: ">= 80000", reached: h2.watcher?.eventsPerS.median },
        overInformer: { target: ">= 2", reached: h2.watcherOverInformer },
        tlsSessionsPerRun: { target: "<= 5", reached: h2.watcher?.tlsSessions.max },
        peakRssMiB: { target: "<= 200", reached: h2.watcher?.peakRssMiB.max },
      },
    })}\n`,
  );
}

if (process.env.WIRE_ROLE === "watcher") await runWatcherChild(process.env.WIRE_KUBECONFIG!);
else if (process.env.WIRE_ROLE === "informer") await runInformerChild(process.env.WIRE_KUBECONFIG!);
else if (process.env.WIRE_ROLE === "wire") await runWireChild(process.env.WIRE_KUBECONFIG!);
else {
  await main();
  process.exit(0);
}
