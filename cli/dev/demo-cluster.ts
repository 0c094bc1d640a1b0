import { AppsV1Api, CoreV1Api, type V1PodTemplateSpec } from "@kubernetes/client-node";

import { startFakeKubelet } from "../../sim/fake-kubelet.ts";
import { hasControllerManager, startKubeCluster } from "../../sim/kube-cluster.ts";
import { PodmortemError } from "../../src/errors.ts";
import { kubeHttpFor } from "../../src/k8s/kube-http.ts";

export type DemoCluster = {
  server: string;
  /** Rewritten at every start (new port, new token), always at the same path. */
  kubeconfigPath: string;
  /** false with setup-envtest's binaries, which have no kube-controller-manager: bare pods. */
  controllerManager: boolean;
  stop(): Promise<void>;
};

const DEMO_NAMESPACE = "demo";

/** A restarted demo finds its namespace and workloads in the kept etcd. */
function unlessAlreadyThere(error: unknown): void {
  if ((error as { code?: number }).code !== 409) throw error;
}

/**
 * The simulated cluster of sim/ (the tests use it too): a real control plane and the fake kubelet,
 * with a workload that crash-loops, one that runs out of memory and a healthy one, so a newcomer
 * sees captures at once.
 */
export async function startDemoCluster(dataDir: string): Promise<DemoCluster> {
  const controllerManager = hasControllerManager();
  let cluster;
  try {
    // etcd stays in the data dir: a restarted demo has its pods, and its kube-system UID, which is
    // what the cluster is enrolled under in Restate's data beside it.
    cluster = await startKubeCluster({ controllerManager, dataDir });
  } catch (error) {
    throw new PodmortemError("PREREQUISITE_MISSING", (error as Error).message, { cause: error });
  }
  // One KubeConfig, so the fake kubelet and the demo's own calls share one connection.
  const kc = cluster.kubeConfig();
  const kubelet = await startFakeKubelet(cluster, {
    nodes: ["demo-node-1", "demo-node-2"],
    restartIntervalMs: 4000,
    maxRestarts: 5,
    kubeConfig: kc,
  });
  const http = kubeHttpFor(kc);
  const core = http.apiClient(CoreV1Api);
  const apps = http.apiClient(AppsV1Api);
  await core
    .createNamespace({ body: { metadata: { name: DEMO_NAMESPACE } } })
    .catch(unlessAlreadyThere);

  const workload = async (name: string, scenario: string, replicas: number) => {
    const template: V1PodTemplateSpec = {
      metadata: {
        labels: { app: name, "project-id": "demo-shop", "workload-id": name },
        annotations: { "fake-kubelet/scenario": scenario },
      },
      spec: { containers: [{ name: "app", image: `registry.example/${name}:1.0` }] },
    };
    if (!controllerManager) {
      for (let replica = 0; replica < replicas; replica++)
        await core
          .createNamespacedPod({
            namespace: DEMO_NAMESPACE,
            body: { ...template, metadata: { ...template.metadata, name: `${name}-${replica}` } },
          })
          .catch(unlessAlreadyThere);
      return;
    }
    await apps
      .createNamespacedDeployment({
        namespace: DEMO_NAMESPACE,
        body: {
          metadata: { name, labels: { app: name } },
          spec: { replicas, selector: { matchLabels: { app: name } }, template },
        },
      })
      .catch(unlessAlreadyThere);
  };
  await workload("checkout", "crashloop", 3);
  await workload("recommender", "oomkilled", 2);
  await workload("frontend", "healthy", 2);
  return {
    server: cluster.server,
    kubeconfigPath: cluster.kubeconfigPath,
    controllerManager,
    async stop() {
      await kubelet[Symbol.asyncDispose]();
      await http.close();
      await cluster[Symbol.asyncDispose]();
    },
  };
}
