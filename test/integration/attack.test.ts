import { CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import * as clients from "@restatedev/restate-sdk-clients";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { AuditEntry } from "../../src/audit/chain.ts";
import { createLogger } from "../../src/logging.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import { verifyBody } from "../../src/notifications/hmac.ts";
import { createWatcherMetrics } from "../../watcher/metrics.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWatcher, type Watcher } from "../../watcher/watcher.ts";
import type { CaptureStatus } from "../../workflows/capture.workflow.ts";
import type { ClusterObject } from "../../workflows/cluster.object.ts";
import type { IncidentState } from "../../workflows/incident.object.ts";
import { lastTerminationOf, makePodEvent } from "../fixtures/pod-events.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { freePorts } from "../harness/ports.ts";
import { startProcess, waitForUrl, type ManagedProcess } from "../harness/processes.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";

/**
 * Each attack of issue 9 (items 1, 2 and 6), made the way any pod in the cluster can: plain HTTP
 * to Restate's ingress. The workflows run as their own process (its log is scanned for secrets),
 * the watcher in this one, against a real API server with the fake kubelet.
 */
const REPO = path.resolve(import.meta.dirname, "..", "..");
const CLUSTER = "atk";
const NS = "shop";
const OWN = "podmortem";
const EXCLUDED = "vault";
const UNPULLABLE = "registry.example/app:does-not-exist";
const secret = (what: string) => `${what}-${randomBytes(12).toString("hex")}`;
const INLINE_PATH = secret("inline-path");
const INLINE_HMAC = secret("inline-hmac");
const REF_PATH = secret("ref-path");
const REF_HMAC = secret("ref-hmac");
/** A PagerDuty routing key (32 characters) and a Teams workflow URL's secret path. */
const ROUTING_KEY = `R${randomBytes(16).toString("hex").slice(0, 31)}`;
const TEAMS_PATH = secret("teams-path");

let cluster: KubeCluster;
let kubelet: FakeKubelet;
let restate: RestateHarness;
let workflows: ManagedProcess;
let watcher: Watcher;
let receiver: Server;
let kc: KubeConfig;
let core: CoreV1Api;
const received: Array<{ url: string; body: string; headers: Record<string, unknown> }> = [];

async function post(route: string, body: unknown): Promise<{ status: number; text: string }> {
  const response = await fetch(`${restate.ingressUrl}/${route}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

async function captures(): Promise<CaptureStatus[]> {
  const rows = await restate.query<{ value_utf8: string }>(
    "SELECT value_utf8 FROM state WHERE service_name = 'Capture' AND key = 'status'",
  );
  return rows.map((row) => JSON.parse(row.value_utf8) as CaptureStatus);
}

async function incidents(): Promise<IncidentState[]> {
  const rows = await restate.query<{ value_utf8: string }>(
    "SELECT value_utf8 FROM state WHERE service_name = 'Incident' AND key = 'incident'",
  );
  return rows.map((row) => JSON.parse(row.value_utf8) as IncidentState);
}

async function finishedCapture(pod: string, timeoutMs = 30_000): Promise<CaptureStatus> {
  return eventually(async () => {
    const done = (await captures()).filter((c) => c.pod === pod && c.finishedAt !== null);
    expect(done.length).toBeGreaterThan(0);
    return done[0]!;
  }, timeoutMs);
}

async function forensicCopiesOf(pod: string): Promise<V1Pod[]> {
  const list = await core.listNamespacedPod({
    namespace: NS,
    labelSelector: "forensic.io/role=forensic-copy",
  });
  return list.items.filter(
    (p) => p.metadata?.annotations?.["forensic.io/source-pod"] === `${NS}/${pod}`,
  );
}

async function crashedPod(name: string): Promise<V1Pod> {
  await core.createNamespacedPod({
    namespace: NS,
    body: { metadata: { name }, spec: { containers: [{ name: "app", image: "shop/app:1" }] } },
  });
  await eventually(async () => {
    const pod = await core.readNamespacedPod({ name, namespace: NS });
    expect(pod.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
  }, 20_000);
  await kubelet.crashNow(NS, name, "app", { exitCode: 3, reason: "Error" });
  return core.readNamespacedPod({ name, namespace: NS });
}

/** The event a watcher would send for a pod's last termination (a valid, honest claim). */
function claimFor(pod: V1Pod, overrides: Partial<PodEvent> = {}): PodEvent {
  return makePodEvent({
    cluster: CLUSTER,
    namespace: pod.metadata!.namespace!,
    pod: pod.metadata!.name!,
    podUID: pod.metadata!.uid!,
    node: pod.spec?.nodeName ?? null,
    workload: { kind: "Pod", name: pod.metadata!.name! },
    container: "app",
    ...lastTerminationOf(pod, "app"),
    ...overrides,
  });
}

beforeAll(async () => {
  receiver = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      received.push({ url: request.url ?? "", body, headers: request.headers });
      response.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", () => resolve()));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  // Both are kept even when the other fails to start, so afterAll stops whichever did.
  const [kube, server] = await Promise.allSettled([startKubeCluster(), startRestate()]);
  if (kube.status === "fulfilled") cluster = kube.value;
  if (server.status === "fulfilled") restate = server.value;
  if (kube.status === "rejected") throw kube.reason;
  if (server.status === "rejected") throw server.reason;
  kc = cluster.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  kubelet = await startFakeKubelet(cluster, {
    nodes: ["node-a"],
    // As a real kubelet would: the same image fails the same way, for a copy too.
    scenarioFor: (pod) =>
      pod.spec?.containers.some((c) => c.image === UNPULLABLE) ? "imagepullbackoff" : undefined,
  });
  for (const name of [NS, OWN, EXCLUDED])
    await core.createNamespace({ body: { metadata: { name } } });
  await core.createNamespacedSecret({
    namespace: OWN,
    body: {
      metadata: { name: "hooks" },
      stringData: { url: `${receiverUrl}/ref/${REF_PATH}`, hmac: REF_HMAC },
    },
  });

  const dir = await mkdtemp(path.join(os.tmpdir(), "podmortem-attack-"));
  const [endpointPort, httpPort] = (await freePorts(2)) as [number, number];
  workflows = startProcess(
    path.join(REPO, "node_modules", ".bin", "node"),
    [path.join(REPO, "bin", "podmortem.js"), "workflows"],
    {
      logFile: path.join(dir, "workflows.log"),
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: cluster.kubeconfigPath,
        POD_NAMESPACE: OWN,
        PODMORTEM_ENDPOINT_PORT: String(endpointPort),
        PODMORTEM_HTTP_PORT: String(httpPort),
        PODMORTEM_LOG_LEVEL: "debug",
        PODMORTEM_EVIDENCE_DIR: path.join(dir, "evidence"),
        PODMORTEM_SECRETS_KEY: randomBytes(32).toString("base64"),
      },
    },
  );
  await waitForUrl(`http://127.0.0.1:${httpPort}/readyz`, {
    timeoutMs: 30_000,
    process: workflows,
  });
  await restate.register(`http://127.0.0.1:${endpointPort}`);

  // An admin's config: inline secrets and Secret references, both delivered to.
  await clients
    .connect({ url: restate.ingressUrl })
    .objectClient<ClusterObject>({ name: "Cluster" }, CLUSTER)
    .setConfig({
      author: "admin",
      config: {
        namespaces: { exclude: [EXCLUDED] },
        capture: {
          steps: { snapshots: false },
          forensicPod: { ttlS: 600 },
          limits: { forensicCopiesPerNamespace: 10 },
        },
        notifications: {
          // The receiver is on loopback: only an allow-list entry lets podmortem call it.
          allowedDestinations: [new URL(receiverUrl).host],
          sinks: [
            {
              name: "inline",
              type: "webhook",
              url: `${receiverUrl}/inline/${INLINE_PATH}`,
              hmacSecret: INLINE_HMAC,
              events: ["captured"],
              rateLimitS: 0,
            },
            {
              name: "ref",
              type: "webhook",
              urlSecretRef: { name: "hooks", key: "url" },
              hmacSecretRef: { name: "hooks", key: "hmac" },
              events: ["captured"],
              rateLimitS: 0,
            },
            {
              name: "pager",
              type: "pagerduty",
              url: `${receiverUrl}/pagerduty`,
              routingKey: ROUTING_KEY,
              events: ["captured"],
              rateLimitS: 0,
            },
            {
              name: "teams",
              type: "teams",
              url: `${receiverUrl}/teams/${TEAMS_PATH}`,
              events: ["captured"],
              rateLimitS: 0,
            },
          ],
        },
      },
    });

  watcher = createWatcher({
    kc,
    link: createRestateLink({
      ingressUrl: restate.ingressUrl,
      authToken: undefined,
      requestTimeoutMs: 10_000,
    }),
    log: createLogger({ name: "attack", level: "silent" }),
    metrics: createWatcherMetrics(),
    clusterName: CLUSTER,
    identity: "attack-watcher",
    configPollIntervalMs: 60_000,
    ownNamespace: OWN,
  });
  await watcher.start({ clusterUID: "atk-uid", kubernetesVersion: "v1.20", watcherVersion: "t" });
}, 120_000);

afterAll(async () => {
  await watcher?.stop(2000);
  await workflows?.stop();
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  receiver?.close();
});

describe("podmortem under attack", () => {
  it("copies a pod whose image never pulls exactly once, though the copy fails the same way", async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "pull-1" },
        spec: { containers: [{ name: "app", image: UNPULLABLE }] },
      },
    });
    // The fault that made copies of copies: the copy runs the same image and fails like its source.
    const [copy] = await eventually(async () => {
      const copies = await forensicCopiesOf("pull-1");
      expect(copies).toHaveLength(1);
      expect(copies[0]!.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe(
        "ImagePullBackOff",
      );
      return copies;
    }, 30_000);
    expect(copy!.metadata?.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "podmortem",
      "forensic.io/role": "forensic-copy",
    });

    // Barrier: a later failure the watcher must report, and its capture finish.
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "pull-2" },
        spec: { containers: [{ name: "app", image: UNPULLABLE }] },
      },
    });
    await finishedCapture("pull-2");
    expect(await forensicCopiesOf("pull-1")).toHaveLength(1);
    expect(await forensicCopiesOf(copy!.metadata!.name!)).toHaveLength(0);
    expect((await incidents()).filter((i) => i.lastEvent.pod.startsWith("forensic-"))).toEqual([]);

    // A pod that reports the copy itself (an honest claim of its status) is refused by Capture.
    const status = copy!.status!.containerStatuses![0]!;
    const claim = makePodEvent({
      cluster: CLUSTER,
      namespace: NS,
      pod: copy!.metadata!.name!,
      podUID: copy!.metadata!.uid!,
      workload: { kind: "Pod", name: copy!.metadata!.name! },
      container: "app",
      reason: "ImagePullBackOff",
      exitCode: null,
      restartCount: status.restartCount,
      startedAt: null,
      finishedAt: null,
    });
    expect(await post("Ingest/batch", { events: [claim] })).toMatchObject({ status: 200 });
    const refused = await finishedCapture(copy!.metadata!.name!);
    expect(refused.phase).toBe("refused");
    expect(refused.steps.find((s) => s.name === "confirm claim")?.detail).toContain(
      "podmortem's own",
    );
    expect(await forensicCopiesOf(copy!.metadata!.name!)).toHaveLength(0);
    expect(await forensicCopiesOf("pull-1")).toHaveLength(1);
  });

  it("refuses a foreign expire and deletes nothing", async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "victim-1" },
        spec: { containers: [{ name: "app", image: "v:1" }] },
      },
    });
    const [copy] = await forensicCopiesOf("pull-1");
    const captureId = copy!.metadata!.labels!["forensic.io/capture-id"]!;
    const forged = await post(`Capture/${captureId}/expire`, { namespace: NS, name: "victim-1" });
    expect(forged.status).toBe(400);
    expect(forged.text).toMatch(/not public/);
    expect((await core.readNamespacedPod({ name: "victim-1", namespace: NS })).metadata?.name).toBe(
      "victim-1",
    );
    expect(await forensicCopiesOf("pull-1")).toHaveLength(1);
  });

  it("answers 400 not public for every handler that is not the watcher's or an admin's", async () => {
    const event = makePodEvent({ cluster: CLUSTER, namespace: NS });
    const routes: Array<[string, unknown]> = [
      ["Capture/pm-x/run", { event, incidentKey: "x" }],
      ["Capture/pm-x/expire", {}],
      ["Capture/pm-x/removeCopyAtTtl", {}],
      [`Incident/${CLUSTER}:${event.signature}/record`, { event }],
      [`Incident/${CLUSTER}:${event.signature}/get`, null],
      [`AuditLog/${CLUSTER}/append`, { kind: "config.changed", cluster: CLUSTER, detail: {} }],
      ["Notifications/dispatch", { cluster: CLUSTER, event: "captured" }],
      [`Notifier/${CLUSTER}:inline:x/deliver`, { sink: "inline", payload: {} }],
      [`Cluster/${CLUSTER}/ingestSettings`, null],
      [`Cluster/${CLUSTER}/captureSettings`, null],
      [`Cluster/${CLUSTER}/notificationRoutes`, null],
      [`Cluster/${CLUSTER}/deliverySink`, "inline"],
      [`CaptureSlot/${CLUSTER}:uid/claim`, { captureId: "pm-x", windowS: 1 }],
      [`CaptureLimits/${CLUSTER}/admit`, { captureId: "pm-x" }],
    ];
    for (const [route, body] of routes) {
      const answer = await post(route, body);
      expect({ route, status: answer.status }).toEqual({ route, status: 400 });
      expect(answer.text, route).toMatch(/not public/);
    }
    // What stays public still answers: a capture's status, the watcher's config poll.
    expect((await post("Capture/pm-x/status", null)).status).toBe(200);
    expect((await post(`Cluster/${CLUSTER}/getConfig`, {})).status).toBe(200);
  });

  it("captures nothing for an excluded namespace, a cluster never enrolled or a forged signature", async () => {
    const excluded = makePodEvent({ cluster: CLUSTER, namespace: EXCLUDED, pod: "db-0" });
    const ghost = makePodEvent({ cluster: "ghost", namespace: NS, pod: "g-1" });
    const forged = { ...makePodEvent({ cluster: CLUSTER, pod: "f-1" }), signature: "f".repeat(64) };
    const barrier = makePodEvent({ cluster: CLUSTER, namespace: NS, pod: "barrier-1" });
    const answer = await post("Ingest/batch", { events: [excluded, ghost, forged, barrier] });
    expect(JSON.parse(answer.text)).toEqual({ accepted: 1, refused: 3 });
    await finishedCapture("barrier-1");
    const all = await captures();
    expect(all.filter((c) => ["db-0", "g-1", "f-1"].includes(c.pod))).toEqual([]);
    expect(
      (await incidents()).filter((i) => ["db-0", "g-1", "f-1"].includes(i.lastEvent.pod)),
    ).toEqual([]);
    const refusals = await eventually(async () => {
      const rows = await restate.query<{ service_key: string; value_utf8: string }>(
        "SELECT service_key, value_utf8 FROM state WHERE service_name = 'AuditLog' AND value_utf8 LIKE '%events.refused%'",
      );
      expect(rows).toHaveLength(2);
      return rows.map((row) => JSON.parse(row.value_utf8) as AuditEntry);
    }, 10_000);
    expect(refusals.find((e) => e.cluster === CLUSTER)?.detail.byReason).toEqual({
      "namespace excluded": 1,
      "signature does not match the event": 1,
    });
    expect(refusals.find((e) => e.cluster === "ghost")?.detail.byReason).toEqual({
      "cluster not enrolled": 1,
    });
    // Nor can a cluster name already enrolled be taken over by another cluster.
    const takeover = await post(`Cluster/${CLUSTER}/enroll`, { clusterUID: "another-uid" });
    expect(takeover.status).toBe(409);
  });

  it("refuses a poisoned suppressed count at the boundary", async () => {
    const poisoned = makePodEvent({ cluster: CLUSTER, pod: "poison-1", suppressed: 2 ** 53 - 2 });
    const answer = await post("Ingest/batch", { events: [poisoned] });
    expect(answer.status).toBe(400);
    expect(answer.text).toContain("events[0].suppressed");
    const direct = await post(`Incident/${CLUSTER}:${poisoned.signature}/record`, {
      event: poisoned,
    });
    expect(direct.status).toBe(400);
    expect(Math.max(...(await incidents()).map((i) => i.occurrences))).toBeLessThan(1_000_000);
  });

  it("keeps every sink secret out of Restate's tables and the workflows' log", async () => {
    // Both sinks were used: their secrets were read and the bodies signed with them.
    const [inline, ref, page] = await eventually(async () => {
      const a = received.find((r) => r.url === `/inline/${INLINE_PATH}`);
      const b = received.find((r) => r.url === `/ref/${REF_PATH}`);
      const c = received.find((r) => r.url === "/pagerduty");
      const d = received.find((r) => r.url === `/teams/${TEAMS_PATH}`);
      expect(a && b && c && d).toBeTruthy();
      return [a!, b!, c!];
    }, 30_000);
    // The routing key was opened and sent: only the sink may see it.
    expect((JSON.parse(page.body) as { routing_key: string }).routing_key).toBe(ROUTING_KEY);
    for (const [delivery, key] of [
      [inline, INLINE_HMAC],
      [ref, REF_HMAC],
    ] as const) {
      const { headers, body } = delivery;
      expect(
        verifyBody(
          key,
          String(headers["x-podmortem-timestamp"]),
          body,
          String(headers["x-podmortem-signature"]),
        ),
      ).toBe(true);
    }

    const tables = (
      await restate.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
      )
    ).map((row) => row.table_name);
    expect(tables).toEqual(expect.arrayContaining(["sys_journal", "state", "sys_invocation"]));
    const texts: string[] = [];
    let rows = 0;
    for (const table of tables) {
      const found = await restate.query(`SELECT * FROM ${table}`);
      rows += found.length;
      const text = found.map(searchable).join("\n");
      // The scan sees inside journal entries: the sealed sink the Notifier was answered is there.
      if (table === "sys_journal") expect(text).toContain("sealed.podmortem.invalid");
      texts.push(text);
    }
    expect(rows).toBeGreaterThan(100);
    texts.push(await readFile(workflows.logFile, "utf8"));
    texts.push(await readFile(restate.logFile, "utf8"));
    const everything = texts.join("\n");
    for (const value of [INLINE_PATH, INLINE_HMAC, REF_PATH, REF_HMAC, ROUTING_KEY, TEAMS_PATH])
      expect(everything.includes(value), value.split("-").slice(0, 2).join("-")).toBe(false);
  });
  it("makes at most one forensic copy from a valid 1,000-event batch naming one pod", async () => {
    await crashedPod("storm-1");
    await kubelet.runNow(NS, "storm-1", "app");
    await kubelet.crashNow(NS, "storm-1", "app", { exitCode: 3, reason: "Error" });
    const pod = await core.readNamespacedPod({ name: "storm-1", namespace: NS });
    // Claims the status supports (an earlier instance exited 3; its finishedAt is no longer
    // shown), each under another workload and time: each its own signature and occurrence id.
    const events = Array.from({ length: 1040 }, (_, i) =>
      claimFor(pod, {
        workload: { kind: "Deployment", name: `w-${i}` },
        restartCount: 0,
        startedAt: null,
        finishedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      }),
    );
    expect(new Set(events.map((e) => e.id)).size).toBe(1040);
    const answer = await post("Ingest/batch", { events: events.slice(0, 1000) });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ accepted: 1000, refused: 0 });
    // 40 more, one batch each, at once: the pod's capture slot holds, whatever arrives.
    const singles = await Promise.all(
      events.slice(1000).map((event) => post("Ingest/batch", { events: [event] })),
    );
    expect(singles.every((single) => single.status === 200)).toBe(true);
    await eventually(
      async () => {
        const counted = (await incidents()).filter((i) => i.lastEvent.pod === "storm-1");
        expect(counted.length).toBeGreaterThanOrEqual(1040);
      },
      45_000,
      500,
    );
    const done = await eventually(
      async () => {
        const mine = (await captures()).filter((c) => c.pod === "storm-1");
        // The watcher's own, the batch's one, the 40 singles'.
        expect(mine.length).toBeGreaterThanOrEqual(41);
        expect(mine.filter((c) => c.finishedAt === null)).toEqual([]);
        return mine;
      },
      30_000,
      500,
    );
    expect(done.length).toBeLessThanOrEqual(42);
    expect(done.filter((c) => c.phase === "refused").length).toBeGreaterThanOrEqual(
      done.length - 1,
    );
    expect((await forensicCopiesOf("storm-1")).length).toBeLessThanOrEqual(1);
  }, 60_000);

  it("salvages evidence but makes no copy past the per-namespace cap, and says why", async () => {
    const alive = (
      await core.listNamespacedPod({
        namespace: NS,
        labelSelector: "forensic.io/role=forensic-copy",
      })
    ).items.length;
    expect(alive).toBeGreaterThan(0);
    const patched = await post(`Cluster/${CLUSTER}/patchConfig`, {
      patch: { capture: { limits: { forensicCopiesPerNamespace: alive } } },
      author: "admin",
    });
    expect(patched.status).toBe(200);
    await crashedPod("capped-1");
    const capture = await finishedCapture("capped-1");
    expect(capture.steps.find((s) => s.name === "create forensic pod")).toMatchObject({
      outcome: "skipped",
      detail: expect.stringContaining(`forensicCopiesPerNamespace ${alive}`),
    });
    expect(capture.limited).toContain(`${alive} forensic copies alive in namespace ${NS}`);
    expect(capture.evidence?.custodySha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await forensicCopiesOf("capped-1")).toHaveLength(0);
  });
});

/**
 * A row as text, with what is encoded inside decoded too: journal entries come as hex (`raw`)
 * and as JSON whose payloads are byte arrays (`entry_json`).
 */
function searchable(value: unknown): string {
  if (typeof value === "string") {
    const decoded: string[] = [value];
    if (/^([0-9a-f]{2})+$/.test(value)) decoded.push(Buffer.from(value, "hex").toString("latin1"));
    if (/^[A-Za-z0-9+/=_-]{16,}$/.test(value))
      decoded.push(Buffer.from(value, "base64").toString("latin1"));
    if (/^[[{]/.test(value)) {
      try {
        decoded.push(searchable(JSON.parse(value)));
      } catch {
        // not JSON after all: the text itself is searched
      }
    }
    return decoded.join("\n");
  }
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((v) => typeof v === "number"))
      return Buffer.from(value).toString("latin1");
    return value.map(searchable).join("\n");
  }
  if (value !== null && typeof value === "object")
    return Object.values(value as Record<string, unknown>)
      .map(searchable)
      .join("\n");
  return String(value);
}
