import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent, fetch } from "undici";

import { openPodLogStream } from "../../src/k8s/logs.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet, type Scenario } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";

let cluster: KubeCluster;
let kubelet: FakeKubelet;
let core: CoreV1Api;
const NS = "harness";

beforeAll(async () => {
  cluster = await startKubeCluster();
  kubelet = await startFakeKubelet(cluster, {
    nodes: ["node-a", "node-b"],
    restartIntervalMs: 500,
    maxRestarts: 2,
  });
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
});
afterAll(async () => {
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
});

async function createPod(name: string, scenario: Scenario, extra: Partial<V1Pod["spec"]> = {}) {
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name, annotations: { "fake-kubelet/scenario": scenario } },
      spec: { containers: [{ name: "app", image: "registry.example/app:1" }], ...extra },
    },
  });
}

async function podWhen(
  name: string,
  check: (pod: V1Pod) => boolean,
  timeoutMs = 20_000,
): Promise<V1Pod> {
  return eventually(async () => {
    const pod = await core.readNamespacedPod({ name, namespace: NS });
    if (!check(pod)) throw new Error(`pod ${name} not there yet: ${JSON.stringify(pod.status)}`);
    return pod;
  }, timeoutMs);
}

describe("the cluster harness and fake kubelet", () => {
  it("crash-loops a pod and serves its previous log through the API server", async () => {
    await createPod("looping", "crashloop");
    const pod = await podWhen(
      "looping",
      (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1,
    );
    expect(pod.spec?.nodeName).toMatch(/^node-[ab]$/);
    const status = pod.status!.containerStatuses![0]!;
    expect(status.lastState?.terminated).toMatchObject({ exitCode: 1, reason: "Error" });
    await podWhen("looping", (p) => p.status?.containerStatuses?.[0]?.restartCount === 2);
    await podWhen(
      "looping",
      (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === "CrashLoopBackOff",
    );
    const stream = await openPodLogStream(cluster.kubeConfig(), {
      namespace: NS,
      pod: "looping",
      container: "app",
      previous: true,
    });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(kubelet.previousLog(NS, "looping", "app"))).toBe(true);
    expect(Buffer.concat(chunks).toString()).toContain("instance 1");
  });

  it("reports OOMKilled, image pull and create failures as a kubelet would", async () => {
    await createPod("oom", "oomkilled");
    await createPod("pull", "imagepullbackoff");
    await createPod("create", "createcontainererror");
    const oom = await podWhen("oom", (p) =>
      Boolean(p.status?.containerStatuses?.[0]?.lastState?.terminated),
    );
    expect(oom.status!.containerStatuses![0]!.lastState!.terminated).toMatchObject({
      exitCode: 137,
      reason: "OOMKilled",
    });
    const pull = await podWhen("pull", (p) =>
      Boolean(p.status?.containerStatuses?.[0]?.state?.waiting),
    );
    expect(pull.status!.containerStatuses![0]!.state!.waiting!.reason).toBe("ImagePullBackOff");
    const create = await podWhen("create", (p) =>
      Boolean(p.status?.containerStatuses?.[0]?.state?.waiting),
    );
    expect(create.status!.containerStatuses![0]!.state!.waiting!.reason).toBe(
      "CreateContainerError",
    );
  });

  it("writes a real checkpoint archive for a running container", async () => {
    await createPod("steady", "healthy");
    await podWhen("steady", (p) => Boolean(p.status?.containerStatuses?.[0]?.state?.running));
    const response = await fetch(`https://127.0.0.1:${kubelet.port}/checkpoint/${NS}/steady/app`, {
      method: "POST",
      headers: { authorization: `Bearer ${cluster.adminToken}` },
      dispatcher: new Agent({ connect: { ca: cluster.caPem } }),
    });
    expect(response.status).toBe(200);
    const { items } = (await response.json()) as { items: string[] };
    expect(items[0]).toMatch(/checkpoint-steady_harness-app-.*\.tar$/);
    const entries = execFileSync("tar", ["-tf", items[0]!]).toString().split("\n").filter(Boolean);
    expect(entries).toEqual(["config.dump", "spec.dump", "checkpoint/pages-1.img"]);
    expect(readFileSync(items[0]!).length).toBeGreaterThan(256 * 1024);
  });

  it("runs a pod of podmortem's own image as a local process and reports its exit", async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "local-run" },
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "task",
              image: "podmortem:dev",
              command: ["sh", "-c", 'printf done > "$PODMORTEM_TERMINATION_LOG"; exit 3'],
            },
          ],
        },
      },
    });
    const pod = await podWhen("local-run", (p) =>
      Boolean(p.status?.containerStatuses?.[0]?.state?.terminated),
    );
    expect(pod.status!.containerStatuses![0]!.state!.terminated).toMatchObject({
      exitCode: 3,
      message: "done",
    });
    expect(pod.status?.phase).toBe("Failed");
  });

  it("refuses the restricted user, and survives an API server restart", async () => {
    const restricted = cluster.kubeConfigForToken(cluster.restrictedToken).makeApiClient(CoreV1Api);
    await expect(restricted.listPodForAllNamespaces()).rejects.toMatchObject({ code: 403 });
    await cluster.restartApiServer();
    const pods = await core.listNamespacedPod({ namespace: NS });
    expect(pods.items.length).toBeGreaterThanOrEqual(5);
  });
});
