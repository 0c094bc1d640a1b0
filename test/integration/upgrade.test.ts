import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import {
  PINNED_INVOCATIONS_SQL,
  registerDeployment,
  removeDrainedDeployment,
} from "../../src/restate/admin.ts";
import type { CaptureStatus } from "../../workflows/capture.workflow.ts";
import { serveEndpoint, type Endpoint } from "../../workflows/endpoint.ts";
import { createWorkflowMetrics, type WorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { CaptureDriver } from "../harness/capture-driver.ts";
import {
  captureClient as captureClientOf,
  crashedPod,
  installSnapshotCrd,
  markReady,
  snapshotNames,
} from "../harness/capture-fixture.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { setConfig } from "./watcher-helpers.ts";

// An upgrade as the chart performs it: each release serves the same services from its own
// endpoint URL and registers it without force. A capture that sleeps in Restate (waiting for its
// volume snapshots) while the next release is registered must finish on the code it started on;
// captures started afterwards run on the new one.
const CLUSTER = "upgrade";
const NS = "shop";
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let restate: RestateHarness;
let kc: KubeConfig;
let core: CoreV1Api;
let evidenceDir: string;
const releases: Array<{ endpoint: Endpoint; metrics: WorkflowMetrics }> = [];

type Release = { url: string; metrics: WorkflowMetrics };

async function startRelease(version: string): Promise<Release> {
  const metrics = createWorkflowMetrics();
  const endpoint = await serveEndpoint(
    [
      ...createServices({
        kube: createKubeAccess(kc),
        store: createDirStore(evidenceDir),
        metrics,
        evidencePrefix: undefined,
        identity: "upgrade-test",
        version,
      }),
      CaptureDriver,
    ],
    { port: 0, host: "127.0.0.1" },
  );
  releases.push({ endpoint, metrics });
  return { url: `http://127.0.0.1:${endpoint.port}`, metrics };
}

async function capturesCounted(metrics: WorkflowMetrics): Promise<number> {
  const metric = await metrics.capturesCompleted.get();
  return metric.values.reduce((sum, value) => sum + value.value, 0);
}

/** What the snapshot controller would do once the storage finished: ready to use. */
async function markSnapshotsReady(): Promise<number> {
  const names = await snapshotNames(kc, NS);
  for (const name of names) await markReady(kc, NS, name);
  return names.length;
}

/** A pod with a volume whose container has just crashed, as the watcher would report it. */
const crashedPodWithVolume = (name: string) =>
  crashedPod({ core, kubelet, cluster: CLUSTER, namespace: NS }, name, { volume: true });

const captureClient = (id: string) => captureClientOf(restate.ingressUrl, id);

async function pinnedDeployment(captureId: string): Promise<string | null> {
  const rows = await restate.query<{ pinned_deployment_id: string | null }>(
    "SELECT pinned_deployment_id FROM sys_invocation " +
      `WHERE target_service_name = 'Capture' AND target_service_key = '${captureId}' ` +
      "AND target_handler_name = 'run'",
  );
  return rows[0]?.pinned_deployment_id ?? null;
}

beforeAll(async () => {
  cluster = await startKubeCluster();
  kc = cluster.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  kubelet = await startFakeKubelet(cluster, { nodes: ["node-a"] });
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await installSnapshotCrd(kc, NS);
  evidenceDir = await mkdtemp(path.join(os.tmpdir(), "podmortem-upgrade-"));
  restate = await startRestate();
}, 180_000);

afterAll(async () => {
  for (const release of releases) await release.endpoint.close();
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  if (evidenceDir) await rm(evidenceDir, { recursive: true, force: true });
});

describe("an upgrade registers a new endpoint and keeps in-flight captures on the old one", () => {
  it("finishes a capture sleeping on v1 on v1, runs new captures on v2, then lets v1 go", async () => {
    const admin = { adminUrl: restate.adminUrl };
    const v1 = await startRelease("1.0.0");
    const v1Deployment = await registerDeployment(admin, v1.url);
    expect(v1Deployment.created).toBe(true);
    await setConfig(restate, CLUSTER, {
      capture: {
        steps: { forensicPod: false, checkpoint: false },
        snapshots: { readyTimeoutS: 600, restoreAndMount: false },
      },
    });

    // A capture that reaches "wait for snapshots" and sleeps there: nothing marks them ready yet.
    const first = await crashedPodWithVolume("checkout-1");
    await captureClient("pm-v1").workflowSubmit({
      event: first,
      incidentKey: `${CLUSTER}:${first.signature}`,
    });
    await eventually(async () => {
      const sleeping = await restate.query<{ name: string }>(
        "SELECT j.name FROM sys_journal j JOIN sys_invocation i ON j.id = i.id " +
          "WHERE i.target_service_key = 'pm-v1' AND j.entry_type = 'Command: Sleep'",
      );
      expect(sleeping.length).toBeGreaterThan(0);
    }, 60_000);
    expect(await pinnedDeployment("pm-v1")).toBe(v1Deployment.id);
    await expect(removeDrainedDeployment(admin, v1Deployment.id)).rejects.toThrow(
      /still has 1 unfinished invocations pinned to it/,
    );

    // The next release: same services, its own URL, registered without force.
    const v2 = await startRelease("1.1.0");
    const v2Deployment = await registerDeployment(admin, v2.url);
    expect(v2Deployment.created).toBe(true);
    expect(v2Deployment.id).not.toBe(v1Deployment.id);
    // Registering v1's URL again changes nothing: Restate answers with the deployment it has.
    const again = await registerDeployment(admin, v1.url);
    expect(again).toMatchObject({ id: v1Deployment.id, created: false });

    // A capture started now runs on v2 to the end.
    const second = await crashedPodWithVolume("checkout-2");
    const secondCapture = captureClient("pm-v2");
    await secondCapture.workflowSubmit({
      event: second,
      incidentKey: `${CLUSTER}:${second.signature}`,
    });
    // Both captures now wait for their snapshot; the storage finishes them.
    await eventually(async () => expect(await markSnapshotsReady()).toBe(2), 60_000);
    const secondStatus: CaptureStatus = await secondCapture.workflowAttach();
    expect(secondStatus.steps.find((s) => s.name === "wait for snapshots")?.outcome).toBe("ok");
    expect(await pinnedDeployment("pm-v2")).toBe(v2Deployment.id);

    // The sleeping capture wakes up on v1 and finishes there: v1 counts it, v2 only its own.
    const firstStatus: CaptureStatus = await captureClient("pm-v1").workflowAttach();
    expect(firstStatus.steps.find((s) => s.name === "wait for snapshots")?.outcome).toBe("ok");
    expect(firstStatus.phase).toBe(secondStatus.phase);
    expect(await pinnedDeployment("pm-v1")).toBe(v1Deployment.id);
    expect(await capturesCounted(v1.metrics)).toBe(1);
    expect(await capturesCounted(v2.metrics)).toBe(1);

    // docs/deploy.md's check before removing a version: nothing unfinished is pinned to v1.
    // Refused while the first capture slept there; allowed once it finished.
    await eventually(async () => {
      const pinned = await restate.query<{ pinned_deployment_id: string | null }>(
        PINNED_INVOCATIONS_SQL,
      );
      expect(pinned.map((row) => row.pinned_deployment_id)).not.toContain(v1Deployment.id);
    }, 30_000);
    await removeDrainedDeployment(admin, v1Deployment.id);
    const deployments = await restate.query<{ id: string }>("SELECT id FROM sys_deployment");
    expect(deployments.map((row) => row.id)).toEqual([v2Deployment.id]);
  });
});
