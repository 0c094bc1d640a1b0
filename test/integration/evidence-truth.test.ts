import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { custodySchema, type Custody } from "../../src/evidence/custody.ts";
import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createS3Store } from "../../src/evidence/s3-store.ts";
import type { RemoteConfigInput } from "../../src/model/remote-config.ts";
import { sealCustody } from "../../workflows/steps/evidence.ts";
import { makePodEvent } from "../fixtures/pod-events.ts";
import {
  SNAPSHOT_API,
  captureClient,
  captureServices,
  installSnapshotCrd,
  patchSnapshotStatus,
  runCapture,
  startSnapshotController,
} from "../harness/capture-fixture.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { shapeLog } from "../harness/kubelet-server.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { startS3, type S3Harness } from "../harness/s3-server.ts";
import { setConfig } from "./watcher-helpers.ts";
import { runBinScript, s3ClientEnv, type CliRun } from "../harness/cli.ts";

const CLUSTER = "truth";
const NS = "shop";
const MIB = 1024 * 1024;
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let s3: S3Harness;
let restate: RestateHarness;
let bucketless: RestateHarness;
let kc: KubeConfig;
let core: CoreV1Api;
const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");
const timings: Record<string, number> = {};

/** Many captures in one namespace here: capture.limits (tested in attack.test.ts) stay out of the way. */
const NO_LIMITS = { forensicCopiesPerNamespace: 1000, capturesPerMinute: 10_000 };

async function setCaptureConfig(harness: RestateHarness, config: RemoteConfigInput["capture"]) {
  await setConfig(harness, CLUSTER, { capture: { limits: NO_LIMITS, ...config } });
}

type PodShape = {
  containers?: string[];
  owned?: boolean;
  claims?: Array<{ name: string; block?: boolean }>;
};

async function startPod(name: string, shape: PodShape = {}): Promise<V1Pod> {
  const claims = shape.claims ?? [];
  for (const claim of claims) {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: NS,
      body: {
        metadata: { name: claim.name },
        spec: {
          accessModes: ["ReadWriteOnce"],
          ...(claim.block ? { volumeMode: "Block" } : {}),
          resources: { requests: { storage: "1Gi" } },
        },
      },
    });
  }
  const volumeName = (i: number) => `vol-${i}`;
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: {
        name,
        annotations: { "fake-kubelet/scenario": "healthy" },
        ...(shape.owned
          ? {
              ownerReferences: [
                {
                  apiVersion: "apps/v1",
                  kind: "ReplicaSet",
                  name: `${name}-rs`,
                  uid: "00000000-0000-0000-0000-000000000002",
                  controller: true,
                },
              ],
            }
          : {}),
      },
      spec: {
        containers: (shape.containers ?? ["app"]).map((container, index) => ({
          name: container,
          image: "registry.example/app:1",
          command: ["/app"],
          ...(index === 0 && claims.some((c) => !c.block)
            ? {
                volumeMounts: claims.flatMap((c, i) =>
                  c.block ? [] : [{ name: volumeName(i), mountPath: `/data/${c.name}` }],
                ),
              }
            : {}),
          ...(index === 0 && claims.some((c) => c.block)
            ? {
                volumeDevices: claims.flatMap((c, i) =>
                  c.block ? [{ name: volumeName(i), devicePath: `/dev/${c.name}` }] : [],
                ),
              }
            : {}),
        })),
        volumes: claims.map((c, i) => ({
          name: volumeName(i),
          persistentVolumeClaim: { claimName: c.name },
        })),
      },
    },
  });
  return eventually(async () => {
    const pod = await core.readNamespacedPod({ name, namespace: NS });
    for (const status of pod.status?.containerStatuses ?? [])
      expect(status.state?.running, status.name).toBeDefined();
    expect(pod.status?.containerStatuses?.length).toBe((shape.containers ?? ["app"]).length);
    return pod;
  }, 20_000);
}

async function crash(pod: string, container = "app") {
  await kubelet.crashNow(NS, pod, container, { exitCode: 1, reason: "Error" });
  const current = await core.readNamespacedPod({ name: pod, namespace: NS });
  return makePodEvent({
    cluster: CLUSTER,
    namespace: NS,
    pod,
    podUID: current.metadata!.uid!,
    node: current.spec!.nodeName!,
    container,
    restartCount: 0,
    workload: { kind: "Pod", name: pod },
  });
}

async function custodyOf(folder: string): Promise<{ bytes: Buffer; custody: Custody }> {
  const bytes = await s3.getObjectBytes(`${folder}custody.json`);
  return { bytes, custody: custodySchema.parse(JSON.parse(bytes.toString())) };
}

function podmortem(...args: string[]): Promise<CliRun> {
  return runBinScript("podmortem.js", args, {
    env: { PATH: process.env.PATH, ...s3ClientEnv(s3) },
  });
}

async function snapshotExists(name: string): Promise<boolean> {
  try {
    const snapshot = (await kc
      .makeApiClient(CustomObjectsApi)
      .getNamespacedCustomObject({ ...SNAPSHOT_API, namespace: NS, name })) as {
      metadata?: { deletionTimestamp?: string };
    };
    return !snapshot.metadata?.deletionTimestamp;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return false;
    throw error;
  }
}

async function claimExists(name: string): Promise<boolean> {
  try {
    const claim = await core.readNamespacedPersistentVolumeClaim({ name, namespace: NS });
    // The pvc-protection finalizer may hold a deleted claim a moment: deleted all the same.
    return !claim.metadata?.deletionTimestamp;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return false;
    throw error;
  }
}

beforeAll(async () => {
  const started = Date.now();
  [cluster, s3] = await Promise.all([startKubeCluster(), startS3()]);
  kc = cluster.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  kubelet = await startFakeKubelet(cluster, { nodes: ["node-a"], checkpointBytes: 64 * 1024 });
  for (const name of [NS, "podmortem"])
    await core.createNamespace({ body: { metadata: { name } } });
  await installSnapshotCrd(kc, NS);
  [restate, bucketless] = await Promise.all([
    startRestate({ services: captureServices(kc, s3) }),
    startRestate({ services: captureServices(kc, s3, { bucket: "no-such-bucket" }) }),
  ]);
  timings.setupMs = Date.now() - started;
}, 120_000);

afterAll(async () => {
  console.log(JSON.stringify({ evidenceTruthTimingsMs: timings }));
  await bucketless?.[Symbol.asyncDispose]();
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  await s3?.[Symbol.asyncDispose]();
});

describe("one folder per capture", () => {
  it("gives two containers of one pod that crash in the same second two folders, two custodies, two clean exports", async () => {
    const started = Date.now();
    await setCaptureConfig(restate, {
      steps: { snapshots: false, forensicPod: false, checkpoint: false },
    });
    await startPod("twin-1", { containers: ["app", "sidecar"] });
    // At the start of a second, so both captures start within it.
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 10));
    const [appEvent, sidecarEvent] = await Promise.all([
      crash("twin-1", "app"),
      crash("twin-1", "sidecar"),
    ]);
    const [app, sidecar] = await Promise.all([
      runCapture(restate.ingressUrl, appEvent, "pm-twin-app"),
      runCapture(restate.ingressUrl, sidecarEvent, "pm-twin-sidecar"),
    ]);
    expect(app.startedAt.slice(0, 19)).toBe(sidecar.startedAt.slice(0, 19));
    expect(app.evidence!.folder).not.toBe(sidecar.evidence!.folder);
    expect(app.evidence!.folder).toMatch(
      /^truth\/shop\/twin-1\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ_pm-twin-app\/$/,
    );
    for (const [status, container] of [
      [app, "app"],
      [sidecar, "sidecar"],
    ] as const) {
      const { bytes, custody } = await custodyOf(status.evidence!.folder);
      expect(custody.captureId).toBe(status.captureId);
      expect(custody.source.container).toBe(container);
      expect(sha256(bytes)).toBe(status.evidence!.custodySha256);
      expect(await s3.getObjectBytes(`${status.evidence!.folder}crash.log`)).toEqual(
        kubelet.previousLog(NS, "twin-1", container),
      );
      const out = await mkdtemp(path.join(os.tmpdir(), "podmortem-truth-export-"));
      const exported = await podmortem(
        "export",
        status.captureId,
        "--out",
        out,
        "--restate-url",
        restate.ingressUrl,
      );
      expect(exported.stderr).not.toContain("DOES NOT MATCH");
      expect(exported.code, exported.stderr).toBe(0);
    }
    timings.twoFoldersMs = Date.now() - started;
  });

  it("refuses to seal over another capture's custody, and finds its own on a replay", async () => {
    const folder = "truth/shop/clash/2026-12-01T00-00-00Z_pm-clash/";
    const dir = createDirStore(await mkdtemp(path.join(os.tmpdir(), "podmortem-truth-dir-")));
    for (const store of [createS3Store({ client: s3.client(), bucket: s3.bucket }), dir]) {
      const input = (captureId: string) => ({
        captureId,
        event: makePodEvent(),
        folder,
        capturedAt: "2026-12-01T00:00:00Z",
        capturedBy: { tool: "podmortem", version: "test", identity: "test" },
        artifacts: [],
      });
      const first = await sealCustody(store, input("pm-clash"), "2026-12-01T00:00:01Z");
      // A replay of the same capture (a later sealedAt) answers with what it wrote before.
      const replay = await sealCustody(store, input("pm-clash"), "2026-12-01T00:00:09Z");
      expect(replay.sha256).toBe(first.sha256);
      await expect(
        sealCustody(store, input("pm-intruder"), "2026-12-01T00:00:02Z"),
      ).rejects.toThrow(/already holds the custody of capture pm-clash: refused/);
      const chunks: Buffer[] = [];
      for await (const chunk of await store.get(`${folder}custody.json`))
        chunks.push(Buffer.from(chunk as Uint8Array));
      const kept = JSON.parse(Buffer.concat(chunks).toString()) as Custody;
      expect(kept.captureId).toBe("pm-clash");
      expect(kept.sealedAt).toBe("2026-12-01T00:00:01Z");
    }
  });
});

describe("no restart without a seal", () => {
  it("leaves the pod alone when the bucket is missing, and says why", async () => {
    await setCaptureConfig(bucketless, {
      steps: { restartAfterSalvage: true, snapshots: false, forensicPod: false },
    });
    await startPod("unsealed-1", { owned: true });
    const event = await crash("unsealed-1");
    const status = await runCapture(bucketless.ingressUrl, event, "pm-unsealed");

    // The fault happened: every write to the store failed, so nothing was sealed.
    expect(status.steps.find((s) => s.name === "capture crash log")).toMatchObject({
      outcome: "failed",
      detail: expect.stringMatching(/NoSuchBucket|bucket does not exist/i),
    });
    expect(status.steps.find((s) => s.name === "seal custody")?.outcome).toBe("failed");
    expect(status.evidence).toBeNull();
    expect(status.steps.find((s) => s.name === "restart pod")).toEqual({
      name: "restart pod",
      outcome: "skipped",
      detail: "not restarted: custody is not sealed, and a restart would lose the crash log",
    });
    // The capture is over, so a deletion would have happened by now: the pod is still there.
    const pod = await core.readNamespacedPod({ name: "unsealed-1", namespace: NS });
    expect(pod.metadata?.uid).toBe(event.podUID);
    expect(pod.metadata?.deletionTimestamp).toBeUndefined();
    // And the audit log says so.
    await eventually(async () => {
      const rows = await bucketless.query<{ value_utf8: string }>(
        "SELECT value_utf8 FROM state WHERE service_name = 'AuditLog' AND value_utf8 LIKE '%capture.finished%'",
      );
      const finished = rows.find((row) => row.value_utf8.includes("pm-unsealed"));
      expect(finished?.value_utf8).toContain("not restarted: custody is not sealed");
    }, 15_000);
  });
});

describe("the end of the log", () => {
  it("keeps the final stack trace of a long log and says it dropped the start", async () => {
    const started = Date.now();
    await setCaptureConfig(restate, {
      steps: { snapshots: false, forensicPod: false },
      logs: { limitBytes: MIB },
    });
    await startPod("long-1", { containers: ["app", "sidecar", "blob"] });
    const event = await crash("long-1");
    await kubelet.crashNow(NS, "long-1", "blob");
    const trace =
      "panic: runtime error: invalid memory address or nil pointer dereference\n" +
      "goroutine 1 [running]:\nmain.checkout(0x0)\n\t/src/main.go:42 +0x1d\n";
    const lines = Array.from(
      { length: 50_036 },
      (_, i) => `2026-12-01T00:00:00Z INFO line ${i + 1} ${"processing order ".repeat(6)}`,
    );
    const long = Buffer.from(`${lines.join("\n")}\n${trace}`);
    expect(long.toString().split("\n").length - 1).toBe(50_040);
    kubelet.setLog(NS, "long-1", "app", { previous: long });
    // Very long lines: five of 400 KiB, then the trace.
    const wide = Buffer.from(
      `${Array.from({ length: 5 }, (_, i) => `${i}`.repeat(400 * 1024)).join("\n")}\n${trace}`,
    );
    kubelet.setLog(NS, "long-1", "blob", { previous: wide });
    const status = await runCapture(restate.ingressUrl, event, "pm-long");
    expect(status.steps.filter((s) => s.outcome === "failed")).toEqual([]);
    const folder = status.evidence!.folder;
    const { custody } = await custodyOf(folder);

    const crashLog = await s3.getObjectBytes(`${folder}crash.log`);
    // What the kubelet hands over for tailLines=10000, less its oldest bytes.
    const window = shapeLog(long, { tailLines: 10_000 });
    expect(window.length).toBeGreaterThan(MIB);
    expect(crashLog.length).toBe(MIB);
    expect(crashLog.toString().endsWith(trace)).toBe(true);
    expect(crashLog.equals(window.subarray(window.length - MIB))).toBe(true);
    expect(custody.artifacts.find((a) => a.name === "crash.log")).toMatchObject({
      truncated: true,
      kept: "tail",
      droppedBytes: window.length - MIB,
      size: MIB,
      sha256: sha256(crashLog),
    });
    expect(status.steps.find((s) => s.name === "capture crash log")?.detail).toContain(
      `${window.length - MIB} older bytes dropped`,
    );

    const blob = await s3.getObjectBytes(`${folder}containers/blob.previous.log`);
    expect(blob.toString().endsWith(trace)).toBe(true);
    expect(blob.equals(wide.subarray(wide.length - MIB))).toBe(true);
    expect(custody.artifacts.find((a) => a.name === "containers/blob.previous.log")).toMatchObject({
      truncated: true,
      droppedBytes: wide.length - MIB,
      kept: "tail",
    });

    // A short log is untouched and says so.
    const sidecar = await s3.getObjectBytes(`${folder}containers/sidecar.log`);
    expect(sidecar).toEqual(kubelet.currentLog(NS, "long-1", "sidecar"));
    expect(custody.artifacts.find((a) => a.name === "containers/sidecar.log")).toMatchObject({
      truncated: false,
      droppedBytes: 0,
      kept: "tail",
    });
    timings.longLogMs = Date.now() - started;
  });
});

describe("one durable step per artifact", () => {
  it("seals crash.log although a sibling container's log answers 404, and the copy carries its hash", async () => {
    await setCaptureConfig(restate, {
      steps: { snapshots: false, forensicPod: true },
      logs: { limitBytes: 16 * MIB },
    });
    await startPod("sibling-1", { containers: ["app", "sidecar"] });
    const event = await crash("sibling-1");
    kubelet.failLogs(NS, "sibling-1", "sidecar", { status: 404 });
    const status = await runCapture(restate.ingressUrl, event, "pm-sibling");
    kubelet.failLogs(NS, "sibling-1", "sidecar", undefined);

    // The fault happened: the sidecar's log was asked for and answered 404.
    expect(kubelet.logRequests(NS, "sibling-1", "sidecar")).toBeGreaterThan(0);
    expect(status.steps.find((s) => s.name === "capture log sidecar")).toMatchObject({
      outcome: "skipped",
      detail: expect.stringContaining("404"),
    });
    expect(status.steps.find((s) => s.name === "capture crash log")?.outcome).toBe("ok");
    const crashLog = await s3.getObjectBytes(`${status.evidence!.folder}crash.log`);
    const { custody } = await custodyOf(status.evidence!.folder);
    expect(custody.artifacts.find((a) => a.name === "crash.log")?.sha256).toBe(sha256(crashLog));
    const copy = await core.readNamespacedPod({ name: "forensic-pm-sibling", namespace: NS });
    expect(copy.metadata?.annotations?.["forensic.io/log-sha256"]).toBe(sha256(crashLog));
  });

  it("retries only the container whose log answered 5xx", async () => {
    await setCaptureConfig(restate, { steps: { snapshots: false, forensicPod: false } });
    await startPod("flaky-1", { containers: ["app", "sidecar"] });
    const event = await crash("flaky-1");
    kubelet.failLogs(NS, "flaky-1", "sidecar", { status: 500, times: 2 });
    const before = {
      app: kubelet.logRequests(NS, "flaky-1", "app"),
      sidecar: kubelet.logRequests(NS, "flaky-1", "sidecar"),
    };
    const status = await runCapture(restate.ingressUrl, event, "pm-flaky");
    expect(status.phase).toBe("succeeded");
    // app: crash.log, its current and its previous log, once each; sidecar: two 500s, then one.
    expect(kubelet.logRequests(NS, "flaky-1", "app") - before.app).toBe(3);
    expect(kubelet.logRequests(NS, "flaky-1", "sidecar") - before.sidecar).toBe(3);
  });
});

describe("snapshots as the CSI snapshotter behaves", () => {
  it("takes readyToUse over a stale error, restores a block claim as a block device, names only ready snapshots, and deletes them at the TTL", async () => {
    const started = Date.now();
    await setCaptureConfig(restate, {
      steps: { snapshots: true, forensicPod: true },
      snapshots: { readyTimeoutS: 4 },
      forensicPod: { ttlS: 600 },
    });
    const stop = startSnapshotController(kc, NS, async (name) => {
      if (name.endsWith("-slow")) return;
      await patchSnapshotStatus(kc, NS, name, {
        readyToUse: true,
        // An error from an earlier attempt that the controller left behind.
        ...(name.endsWith("-fs")
          ? { error: { message: "stale: conflict on an earlier try" } }
          : {}),
      });
    });
    await startPod("snap-1", {
      claims: [{ name: "snap-1-fs" }, { name: "snap-1-raw", block: true }, { name: "snap-1-slow" }],
    });
    const event = await crash("snap-1");
    const status = await runCapture(restate.ingressUrl, event, "pm-snap").finally(stop);

    const wait = status.steps.find((s) => s.name === "wait for snapshots")!;
    expect(wait.outcome).toBe("failed");
    expect(wait.detail).toBe("not ready to use after 4 s: pm-snap-snap-1-slow");
    expect(status.snapshots).toEqual(["pm-snap-snap-1-fs", "pm-snap-snap-1-raw"]);
    const copy = await core.readNamespacedPod({ name: "forensic-pm-snap", namespace: NS });
    expect(copy.metadata?.annotations?.["forensic.io/snapshots"]).toBe(
      "pm-snap-snap-1-fs,pm-snap-snap-1-raw",
    );
    const raw = await core.readNamespacedPersistentVolumeClaim({
      name: "pm-snap-snap-1-raw-restored",
      namespace: NS,
    });
    expect(raw.spec?.volumeMode).toBe("Block");
    expect(raw.spec?.dataSource?.name).toBe("pm-snap-snap-1-raw");
    const app = copy.spec!.containers[0]!;
    expect(app.volumeDevices).toEqual([{ name: "vol-1", devicePath: "/dev/snap-1-raw" }]);
    expect(app.volumeMounts?.map((m) => m.name)).toEqual(["vol-0", "vol-2"]);
    const volumes = Object.fromEntries(
      copy.spec!.volumes!.map((v) => [v.name, v.persistentVolumeClaim?.claimName ?? "emptyDir"]),
    );
    expect(volumes).toEqual({
      "vol-0": "pm-snap-snap-1-fs-restored",
      "vol-1": "pm-snap-snap-1-raw-restored",
      "vol-2": "emptyDir",
    });
    await expect(
      claimExists("pm-snap-snap-1-slow-restored"),
      "no claim from a snapshot never ready",
    ).resolves.toBe(false);

    // What the scheduled removal does when the TTL ends, run now.
    await captureClient(restate.ingressUrl, "pm-snap").expire({
      namespace: NS,
      name: "forensic-pm-snap",
    });
    for (const name of ["pm-snap-snap-1-fs", "pm-snap-snap-1-raw", "pm-snap-snap-1-slow"])
      expect(await snapshotExists(name), name).toBe(false);
    for (const name of ["pm-snap-snap-1-fs-restored", "pm-snap-snap-1-raw-restored"])
      expect(await claimExists(name), name).toBe(false);
    // The source's own claims are untouched.
    expect(await claimExists("snap-1-fs")).toBe(true);
    timings.snapshotsStaleBlockTtlMs = Date.now() - started;
  });

  it("waits out a transient error until the snapshot is ready, and keeps it past the TTL when told to", async () => {
    const started = Date.now();
    await setCaptureConfig(restate, {
      steps: { snapshots: true, forensicPod: false },
      snapshots: { readyTimeoutS: 120, keepAfterExpiry: true },
    });
    const stop = startSnapshotController(kc, NS, async (name) => {
      await patchSnapshotStatus(kc, NS, name, {
        readyToUse: false,
        error: {
          message: "the object has been modified; please apply your changes to the latest version",
        },
      });
    });
    await startPod("snap-2", { claims: [{ name: "snap-2-data" }] });
    const event = await crash("snap-2");
    const workflow = captureClient(restate.ingressUrl, "pm-transient");
    await workflow.workflowSubmit({ event, incidentKey: "x" });
    // A second read of the snapshot happens after the error was written (5 s after the first).
    await eventually(
      async () => {
        const rows = await restate.query<{ name: string }>(
          "SELECT j.name FROM sys_journal j JOIN sys_invocation i ON j.id = i.id " +
            "WHERE i.target_service_key = 'pm-transient' AND j.name = 'check snapshots 2'",
        );
        expect(rows).toHaveLength(1);
      },
      30_000,
      100,
    );
    await stop();
    await patchSnapshotStatus(kc, NS, "pm-transient-snap-2-data", {
      readyToUse: true,
      error: null,
    });
    const status = await workflow.workflowAttach();
    expect(status.steps.find((s) => s.name === "wait for snapshots")).toMatchObject({
      outcome: "ok",
      detail: "1 ready to use",
    });
    expect(status.snapshots).toEqual(["pm-transient-snap-2-data"]);
    expect(status.restoredClaims).toEqual(["pm-transient-snap-2-data-restored"]);

    await workflow.expire({ namespace: NS, name: "forensic-pm-transient" });
    expect(await snapshotExists("pm-transient-snap-2-data")).toBe(true);
    expect(await claimExists("pm-transient-snap-2-data-restored")).toBe(true);
    timings.snapshotsTransientMs = Date.now() - started;
  });
});

describe("checkpoints", () => {
  it("skips a container that stopped just before the kubelet's checkpoint call", async () => {
    await setCaptureConfig(restate, {
      steps: { checkpoint: true, snapshots: false, forensicPod: false },
    });
    await startPod("ckpt-1");
    const event = await crash("ckpt-1");
    await kubelet.runNow(NS, "ckpt-1", "app");
    kubelet.stopBeforeCheckpoint(NS, "ckpt-1", "app");
    const requests = kubelet.checkpointRequests();
    const status = await runCapture(restate.ingressUrl, event, "pm-stopped");

    // The fault happened: the kubelet was asked, and the container was gone by then.
    expect(kubelet.checkpointRequests()).toBe(requests + 1);
    expect(status.steps.find((s) => s.name === "checkpoint container")).toEqual({
      name: "checkpoint container",
      outcome: "skipped",
      detail: "container app was not running when the step ran (the kubelet answered 404)",
    });
    expect(status.phase).toBe("succeeded");
  });
});
