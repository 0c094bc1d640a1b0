import type { CoreV1Api } from "@kubernetes/client-node";
import { NetworkingV1Api, type KubeConfig } from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { custodySchema } from "../../src/evidence/custody.ts";
import type { PodEvent } from "../../src/model/pod-event.ts";
import type { RemoteConfigInput } from "../../src/model/remote-config.ts";
import { makePodEvent } from "../fixtures/pod-events.ts";
import { captureWorkflowOf } from "../harness/capture-driver.ts";
import {
  captureServices,
  crashedPod,
  runCapture,
  setCaptureConfig as configure,
  startCaptureBed,
  startSnapshotController,
  type CaptureBed,
} from "../harness/capture-fixture.ts";
import { eventually } from "../harness/eventually.ts";
import type { FakeKubelet } from "../harness/fake-kubelet.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import type { S3Harness } from "../harness/s3-server.ts";

const CLUSTER = "cap";
const NS = "shop";
let bed: CaptureBed;
let kubelet: FakeKubelet;
let s3: S3Harness;
let restate: RestateHarness;
let restricted: RestateHarness;
let kc: KubeConfig;
let core: CoreV1Api;
const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

const capture = (harness: RestateHarness, event: PodEvent, id: string) =>
  runCapture(harness.ingressUrl, event, id);
const crashingPod = (name: string, options: { volume?: boolean; owned?: boolean } = {}) =>
  crashedPod({ core, kubelet, cluster: CLUSTER, namespace: NS }, name, options);
const setCaptureConfig = (config: RemoteConfigInput["capture"]) =>
  configure([restate, restricted], CLUSTER, config);
const snapshotController = () => startSnapshotController(kc, NS);

beforeAll(async () => {
  bed = await startCaptureBed(NS, { checkpointBytes: 3 * 1024 * 1024 });
  ({ kubelet, s3, kc, core } = bed);
  restate = await startRestate({ services: captureServices(kc, s3) });
  restricted = await startRestate({
    services: captureServices(bed.cluster.kubeConfigForToken(bed.cluster.restrictedToken), s3),
  });
}, 120_000);

afterAll(async () => {
  await restricted?.[Symbol.asyncDispose]();
  await restate?.[Symbol.asyncDispose]();
  await bed?.[Symbol.asyncDispose]();
});

describe("the Capture workflow", () => {
  it("salvages evidence, snapshots, a checkpoint and a sealed forensic copy", async () => {
    await setCaptureConfig({
      steps: { checkpoint: true },
      checkpoint: { deleteFromNode: false },
      forensicPod: { ttlS: 3600 },
    });
    const stopController = snapshotController();
    const event = await crashingPod("checkout-1", { volume: true });
    await kubelet.runNow(NS, "checkout-1", "app");
    const status = await capture(restate, event, "pm-full").finally(stopController);

    expect(status.steps.filter((s) => s.outcome === "failed")).toEqual([]);
    expect(status.phase).toBe("succeeded");
    expect(status.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        "capture crash log",
        "capture log app",
        "capture pod manifest",
        "capture events",
        "capture node conditions",
        "create volume snapshots",
        "wait for snapshots",
        "restore volumes",
        "checkpoint container",
        "start retriever",
        "exfiltrate checkpoint",
        "seal custody",
        "create network policy",
        "create forensic pod",
      ]),
    );

    const folder = status.evidence!.folder;
    const keys = await s3.listKeys(folder);
    expect(keys.map((k) => k.slice(folder.length)).sort()).toEqual(
      [
        "checkpoint-app.tar",
        "containers/app.log",
        "containers/app.previous.log",
        "crash.log",
        "custody.json",
        "events.json",
        "node.json",
        "pod.json",
        "report.json",
        "report.md",
      ].sort(),
    );
    const crashLog = await s3.getObjectBytes(`${folder}crash.log`);
    expect(crashLog.equals(kubelet.previousLog(NS, "checkout-1", "app"))).toBe(true);
    const custodyBytes = await s3.getObjectBytes(`${folder}custody.json`);
    const custody = custodySchema.parse(JSON.parse(custodyBytes.toString()));
    for (const artifact of custody.artifacts) {
      expect(sha256(await s3.getObjectBytes(artifact.key)), artifact.name).toBe(artifact.sha256);
    }
    const archive = readdirSync(kubelet.checkpointDir).find((f) =>
      f.startsWith("checkpoint-checkout-1_shop-app"),
    )!;
    const tarOnNode = readFileSync(`${kubelet.checkpointDir}/${archive}`);
    expect(custody.artifacts.find((a) => a.name === "checkpoint-app.tar")?.sha256).toBe(
      sha256(tarOnNode),
    );

    const forensic = await core.readNamespacedPod({ name: "forensic-pm-full", namespace: NS });
    const annotations = forensic.metadata!.annotations!;
    expect(annotations["forensic.io/log-sha256"]).toBe(sha256(crashLog));
    expect(annotations["forensic.io/bundle-sha256"]).toBe(sha256(custodyBytes));
    expect(annotations["forensic.io/evidence"]).toBe(`s3://${s3.bucket}/${folder}custody.json`);
    expect(annotations["forensic.io/snapshots"]).toBe("pm-full-checkout-1-data");
    expect(annotations["forensic.io/checkpoint"]).toContain(
      `s3://${s3.bucket}/${folder}checkpoint-app.tar`,
    );
    expect(annotations["forensic.io/source-pod"]).toBe(`${NS}/checkout-1`);
    const container = forensic.spec!.containers[0]!;
    expect(container.command).toEqual(["sleep", "3600"]);
    expect(container.livenessProbe).toBeUndefined();
    expect(container.securityContext?.capabilities?.drop).toEqual(["ALL"]);
    expect(forensic.spec!.automountServiceAccountToken).toBe(false);
    expect(forensic.metadata!.labels).not.toHaveProperty("app");
    expect(
      forensic.spec!.volumes?.find((v) => v.name === "data")?.persistentVolumeClaim?.claimName,
    ).toBe("pm-full-checkout-1-data-restored");

    const restored = await core.readNamespacedPersistentVolumeClaim({
      name: "pm-full-checkout-1-data-restored",
      namespace: NS,
    });
    expect(restored.spec?.dataSource).toMatchObject({
      kind: "VolumeSnapshot",
      name: "pm-full-checkout-1-data",
    });
    const policy = await kc
      .makeApiClient(NetworkingV1Api)
      .readNamespacedNetworkPolicy({ name: "forensic-pm-full-deny-all", namespace: NS });
    expect(policy.spec).toMatchObject({
      policyTypes: ["Ingress", "Egress"],
      podSelector: { matchLabels: { "forensic.io/capture-id": "pm-full" } },
    });
    expect(policy.spec?.ingress ?? []).toEqual([]);
    await eventually(async () => {
      const retrievers = await core.listNamespacedPod({ namespace: "podmortem" });
      expect(retrievers.items).toHaveLength(0);
    }, 10_000);
  });

  it("finishes a capture whose endpoint died mid-way, without a second object", async () => {
    await setCaptureConfig({
      steps: { checkpoint: true, snapshots: false },
      checkpoint: { deleteFromNode: true },
    });
    const event = await crashingPod("checkout-2");
    await kubelet.runNow(NS, "checkout-2", "app");
    const workflow = captureWorkflowOf(restate.ingressUrl, "pm-replay");
    await workflow.workflowSubmit({ event, incidentKey: "x" });
    // While it waits for the retriever, the workflows process goes away and comes back.
    await eventually(
      async () => {
        const rows = await restate.query<{ name: string }>(
          "SELECT name FROM sys_journal WHERE name = 'start retriever'",
        );
        expect(rows.length).toBeGreaterThan(0);
      },
      30_000,
      50,
    );
    await restate.stopEndpoint();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await restate.startEndpoint();
    const status = await workflow.workflowAttach();
    expect(status.phase).toBe("succeeded");
    const forensicPods = await core.listNamespacedPod({
      namespace: NS,
      labelSelector: "forensic.io/capture-id=pm-replay",
    });
    expect(forensicPods.items).toHaveLength(1);
    expect(
      (await s3.listKeys(status.evidence!.folder)).filter((k) => k.endsWith(".tar")),
    ).toHaveLength(1);
    expect(
      readdirSync(kubelet.checkpointDir).filter((f) => f.startsWith("checkpoint-checkout-2_")),
    ).toEqual([]);
  });

  it("survives restate-server being killed mid-capture, and S3 throttling", async () => {
    await setCaptureConfig({ steps: { checkpoint: false, snapshots: false } });
    const event = await crashingPod("checkout-3");
    const throttledBefore = s3.throttledCount();
    s3.failNext(4);
    const workflow = captureWorkflowOf(restate.ingressUrl, "pm-restart");
    await workflow.workflowSubmit({ event, incidentKey: "x" });
    await restate.restartServer();
    const status = await eventually(async () => {
      const output = await workflow.workflowOutput();
      expect(output.ready).toBe(true);
      return output.result;
    }, 60_000);
    expect(status.phase).toBe("succeeded");
    // The fault happened: the capture's uploads met exactly the four 503s.
    expect(s3.throttledCount() - throttledBefore).toBe(4);
    expect(await s3.getObjectBytes(`${status.evidence!.folder}crash.log`)).toEqual(
      kubelet.previousLog(NS, "checkout-3", "app"),
    );
  });

  it("salvages what it can of a vanished pod, creates nothing and calls it unconfirmed", async () => {
    const event = makePodEvent({
      cluster: CLUSTER,
      namespace: NS,
      pod: "gone-1",
      podUID: "gone-uid",
    });
    const status = await capture(restate, event, "pm-gone");
    const failed = status.steps.filter((s) => s.outcome === "failed").map((s) => s.name);
    expect(failed).toEqual(
      expect.arrayContaining(["read pod", "confirm claim", "capture pod manifest"]),
    );
    expect(status.steps.find((s) => s.name === "read pod")?.detail).toContain("no longer exists");
    expect(status.steps.find((s) => s.name === "seal custody")?.outcome).toBe("ok");
    expect(status.steps.find((s) => s.name === "create forensic pod")).toMatchObject({
      outcome: "skipped",
      detail: expect.stringContaining("unconfirmed"),
    });
    expect(status.phase).toBe("unconfirmed");
  });

  it("stops at a 403 from RBAC at once and says why", async () => {
    const event = await crashingPod("checkout-4");
    const started = Date.now();
    const status = await capture(restricted, event, "pm-forbidden");
    expect(Date.now() - started).toBeLessThan(20_000);
    const read = status.steps.find((s) => s.name === "read pod")!;
    expect(read.outcome).toBe("failed");
    expect(read.detail).toMatch(/^403: .*forbidden/);
    const journal = await restricted.query<{ name: string }>(
      "SELECT j.name FROM sys_journal j JOIN sys_invocation i ON j.id = i.id WHERE i.target_service_key = 'pm-forbidden' AND j.name = 'read pod'",
    );
    expect(journal).toHaveLength(1);
  });

  it("restarts an owned pod after salvage and leaves a bare one alone", async () => {
    await setCaptureConfig({
      steps: { restartAfterSalvage: true, snapshots: false, forensicPod: false },
    });
    const owned = await crashingPod("owned-1", { owned: true });
    const bare = await crashingPod("bare-1");
    const ownedStatus = await capture(restate, owned, "pm-owned");
    const bareStatus = await capture(restate, bare, "pm-bare");
    expect(ownedStatus.steps.find((s) => s.name === "restart pod")).toMatchObject({
      outcome: "ok",
    });
    expect(bareStatus.steps.find((s) => s.name === "restart pod")).toMatchObject({
      outcome: "skipped",
    });
    await eventually(async () => {
      await expect(
        core.readNamespacedPod({ name: "owned-1", namespace: NS }),
      ).rejects.toMatchObject({ code: 404 });
    }, 10_000);
    expect((await core.readNamespacedPod({ name: "bare-1", namespace: NS })).metadata?.name).toBe(
      "bare-1",
    );
  });
});
