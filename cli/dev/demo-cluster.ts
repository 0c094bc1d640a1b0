import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";

import { PodmortemError } from "../../src/errors.ts";
import type { startFakeKubelet as StartFakeKubelet } from "../../test/harness/fake-kubelet.ts";
import type { startKubeCluster as StartKubeCluster } from "../../test/harness/kube-cluster.ts";

export type DemoCluster = { server: string; kubeconfigPath: string; stop(): Promise<void> };

const DEMO_NAMESPACE = "demo";

/**
 * The test harness's real control plane and fake kubelet, with a Deployment that crash-loops,
 * one that runs out of memory and a healthy one, so a newcomer sees captures at once.
 */
export async function startDemoCluster(_dataDir: string): Promise<DemoCluster> {
  // The harness lives with the tests; the demo is a development tool and may use it.
  const harness = "../../test/harness/";
  const { startKubeCluster } = (await import(`${harness}kube-cluster.ts`)) as {
    startKubeCluster: typeof StartKubeCluster;
  };
  const { startFakeKubelet } = (await import(`${harness}fake-kubelet.ts`)) as {
    startFakeKubelet: typeof StartFakeKubelet;
  };
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
