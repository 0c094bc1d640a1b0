import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { startDemoCluster, type DemoCluster } from "../../cli/dev/demo-cluster.ts";
import { eventually } from "../harness/eventually.ts";

let dataDir: string | undefined;
let running: DemoCluster | undefined;

afterAll(async () => {
  await running?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

type Seen = { uid: string; pods: Map<string, number> };

/** The kube-system UID (what podmortem enrolls a cluster under) and each demo pod's restarts. */
async function look(demo: DemoCluster): Promise<Seen> {
  const kc = new KubeConfig();
  kc.loadFromFile(demo.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = await core.readNamespace({ name: "kube-system" });
  const pods = await core.listNamespacedPod({ namespace: "demo" });
  return {
    uid: namespace.metadata!.uid!,
    pods: new Map(
      pods.items.map((pod) => [
        pod.metadata!.name!,
        pod.status?.containerStatuses?.[0]?.restartCount ?? 0,
      ]),
    ),
  };
}

describe("podmortem dev --demo started again in the same folder", () => {
  it("has the same cluster (kube-system UID, kubeconfig path, pods) and goes on counting restarts", async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "podmortem-demo-"));
    running = await startDemoCluster(dataDir);
    const kubeconfigPath = running.kubeconfigPath;
    expect(kubeconfigPath).toBe(path.join(dataDir, "admin.kubeconfig"));
    // Seven pods, and a crash-looping one has restarted: the demo is playing.
    const first = await eventually(async () => {
      const seen = await look(running!);
      expect(seen.pods.size).toBe(7);
      expect(Math.max(...seen.pods.values())).toBeGreaterThanOrEqual(1);
      return seen;
    }, 60_000);
    await running.stop();
    running = undefined;

    running = await startDemoCluster(dataDir);
    expect(running.kubeconfigPath).toBe(kubeconfigPath);
    const second = await look(running);
    expect(second.uid).toBe(first.uid);
    expect([...second.pods.keys()].sort()).toEqual([...first.pods.keys()].sort());
    // A restarted kubelet resumes from the pod's status: counts never go back, and they grow.
    const crashing = [...first.pods].filter(([name]) => name.startsWith("checkout-"));
    for (const [name, before] of crashing)
      expect(second.pods.get(name)).toBeGreaterThanOrEqual(before);
    await eventually(async () => {
      const later = await look(running!);
      expect(crashing.some(([name, before]) => (later.pods.get(name) ?? 0) > before)).toBe(true);
    }, 60_000);
  });
});
