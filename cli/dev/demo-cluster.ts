import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";

import { PodmortemError } from "../../src/errors.ts";
import { startFakeKubelet } from "../../sim/fake-kubelet.ts";
import { startKubeCluster } from "../../sim/kube-cluster.ts";

export type DemoCluster = { server: string; kubeconfigPath: string; stop(): Promise<void> };

const DEMO_NAMESPACE = "demo";

/**
 * The simulated cluster of sim/ (the tests use it too): a real control plane and the fake kubelet,
 * with a Deployment that crash-loops, one that runs out of memory and a healthy one, so a newcomer
 * sees captures at once.
 */
export async function startDemoCluster(_dataDir: string): Promise<DemoCluster> {
  let cluster;
  try {
    cluster = await startKubeCluster({ controllerManager: true });
  } catch (error) {
    throw new PodmortemError("PREREQUISITE_MISSING", (error as Error).message, { cause: error });
  }
  const kubelet = await startFakeKubelet(cluster, {
    nodes: ["demo-node-1", "demo-node-2"],
    restartIntervalMs: 4000,
    maxRestarts: 5,
  });
  const kc = cluster.kubeConfig();
  await kc
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: DEMO_NAMESPACE } } });
  const apps = kc.makeApiClient(AppsV1Api);
  const deployment = (name: string, scenario: string, replicas: number) =>
    apps.createNamespacedDeployment({
      namespace: DEMO_NAMESPACE,
      body: {
        metadata: { name, labels: { app: name } },
        spec: {
          replicas,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: {
              labels: { app: name, "project-id": "demo-shop", "workload-id": name },
              annotations: { "fake-kubelet/scenario": scenario },
            },
            spec: { containers: [{ name: "app", image: `registry.example/${name}:1.0` }] },
          },
        },
      },
    });
  await deployment("checkout", "crashloop", 3);
  await deployment("recommender", "oomkilled", 2);
  await deployment("frontend", "healthy", 2);
  return {
    server: cluster.server,
    kubeconfigPath: cluster.kubeconfigPath,
    async stop() {
      await kubelet[Symbol.asyncDispose]();
      await cluster[Symbol.asyncDispose]();
    },
  };
}
