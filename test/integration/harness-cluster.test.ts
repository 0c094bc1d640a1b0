import { AppsV1Api, CoreV1Api, VersionApi, type V1Pod } from "@kubernetes/client-node";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Agent, fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { openPodLogStream } from "../../src/k8s/logs.ts";
import { eventually } from "../harness/eventually.ts";
import {
  RUN_ANNOTATION,
  SCENARIO_ANNOTATION,
  startFakeKubelet,
  type FakeKubelet,
  type Scenario,
} from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { shapeLog } from "../harness/kubelet-server.ts";

const NS = "harness";
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let core: CoreV1Api;
let scratch: string;

beforeAll(async () => {
  cluster = await startKubeCluster({ controllerManager: true });
  kubelet = await startFakeKubelet(cluster, {
    nodes: ["node-a", "node-b"],
    restartIntervalMs: 400,
    maxRestarts: 3,
  });
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  scratch = mkdtempSync(path.join(os.tmpdir(), "harness-cluster-"));
});
afterAll(async () => {
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function createPod(
  name: string,
  scenario: Scenario,
  spec: Partial<NonNullable<V1Pod["spec"]>> = {},
): Promise<void> {
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name, annotations: { [SCENARIO_ANNOTATION]: scenario } },
      spec: { containers: [{ name: "app", image: "registry.example/app:1" }], ...spec },
    },
  });
}

function podWhen(name: string, check: (pod: V1Pod) => boolean, timeoutMs = 15_000) {
  return eventually(async () => {
    const pod = await core.readNamespacedPod({ name, namespace: NS });
    if (!check(pod)) throw new Error(`pod ${name} is not there yet: ${JSON.stringify(pod.status)}`);
    return pod;
  }, timeoutMs);
}

const app = (pod: V1Pod) => pod.status?.containerStatuses?.[0];

describe("the cluster harness", () => {
  it("serves the 1.20 API with the fake kubelet's nodes registered", async () => {
    const version = await cluster.kubeConfig().makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe("v1.20.2");
    const nodes = await core.listNode();
    expect(nodes.items.map((n) => n.metadata?.name).sort()).toEqual(["node-a", "node-b"]);
    for (const node of nodes.items) {
      expect(node.status?.daemonEndpoints?.kubeletEndpoint?.Port).toBe(kubelet.port);
      expect(node.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    }
  });

  it("refuses the restricted token what RBAC does not grant", async () => {
    const restricted = cluster.kubeConfigForToken(cluster.restrictedToken).makeApiClient(CoreV1Api);
    await expect(restricted.listPodForAllNamespaces()).rejects.toMatchObject({ code: 403 });
    await expect(restricted.listNamespacedPod({ namespace: NS })).rejects.toMatchObject({
      code: 403,
    });
  });
});

describe("the fake kubelet", () => {
  it("binds a crash-looping pod and serves its previous log through the API server", async () => {
    await createPod("looping", "crashloop");
    // maxRestarts is 3: the loop then rests in CrashLoopBackOff, so the status stands still.
    const pod = await podWhen(
      "looping",
      (p) => app(p)?.restartCount === 3 && app(p)?.state?.waiting?.reason === "CrashLoopBackOff",
    );
    expect(pod.spec?.nodeName).toMatch(/^node-[ab]$/);
    expect(pod.status?.phase).toBe("Running");
    expect(pod.status?.podIP).toMatch(/^10\.1\./);
    const last = app(pod)!.lastState!.terminated!;
    expect(last).toMatchObject({ exitCode: 1, reason: "Error" });
    expect(last.containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
    expect(new Date(last.finishedAt!).getTime()).toBeGreaterThanOrEqual(
      new Date(last.startedAt!).getTime(),
    );

    const expected = kubelet.previousLog(NS, "looping", "app");
    expect(expected.toString()).toContain(`${NS}/looping container app instance 2\n`);
    const read = (extra: { tailLines?: number; limitBytes?: number } = {}) =>
      core.readNamespacedPodLog({
        name: "looping",
        namespace: NS,
        container: "app",
        previous: true,
        ...extra,
      });
    expect(await read()).toBe(expected.toString());
    const tailed = await read({ tailLines: 3, limitBytes: 40 });
    expect(tailed).toBe(shapeLog(expected, { tailLines: 3, limitBytes: 40 }).toString());
    expect(tailed).toMatch(/^app\[2\] working on item 19\n/);
    expect(Buffer.byteLength(tailed)).toBe(40);

    kubelet.setLog(NS, "looping", "app", { previous: Buffer.from([0, 0xff, 0x80, 10]) });
    const stream = await openPodLogStream(cluster.kubeConfig(), {
      namespace: NS,
      pod: "looping",
      container: "app",
      previous: true,
    });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks)).toEqual(kubelet.previousLog(NS, "looping", "app"));
  });

  it("plays every scenario as a kubelet would report it", async () => {
    await createPod("oom", "oomkilled");
    await createPod("pull", "imagepullbackoff");
    await createPod("pull-err", "errimagepull");
    await createPod("create", "createcontainererror");
    await createPod("evicted", "evicted");
    await createPod("init", "init-crash", {
      initContainers: [{ name: "migrate", image: "registry.example/migrate:1" }],
    });
    await createPod("multi", "multi-container", {
      containers: [
        { name: "app", image: "registry.example/app:1" },
        { name: "sidecar", image: "registry.example/sidecar:1" },
      ],
    });

    const oom = await podWhen("oom", (p) => Boolean(app(p)?.lastState?.terminated));
    expect(app(oom)!.lastState!.terminated).toMatchObject({
      exitCode: 137,
      reason: "OOMKilled",
      signal: 9,
    });
    const pull = await podWhen("pull", (p) => Boolean(app(p)?.state?.waiting));
    expect(pull.status?.phase).toBe("Pending");
    expect(app(pull)).toMatchObject({ imageID: "", restartCount: 0, lastState: {} });
    expect(app(pull)!.state!.waiting!.reason).toBe("ImagePullBackOff");
    const pullErr = await podWhen("pull-err", (p) => Boolean(app(p)?.state?.waiting));
    expect(app(pullErr)!.state!.waiting!.reason).toBe("ErrImagePull");
    const create = await podWhen("create", (p) => Boolean(app(p)?.state?.waiting));
    expect(app(create)!.state!.waiting).toMatchObject({
      reason: "CreateContainerError",
      message: expect.stringContaining("no such file") as string,
    });
    const evicted = await podWhen("evicted", (p) => p.status?.phase === "Failed");
    expect(evicted.status).toMatchObject({ reason: "Evicted" });
    expect(evicted.status?.message).toContain("low on resource");
    const init = await podWhen("init", (p) =>
      Boolean(p.status?.initContainerStatuses?.[0]?.lastState?.terminated),
    );
    expect(init.status?.phase).toBe("Pending");
    expect(init.status!.initContainerStatuses![0]!.lastState!.terminated!.exitCode).toBe(1);
    expect(app(init)!.state!.waiting!.reason).toBe("PodInitializing");
    const multi = await podWhen("multi", (p) =>
      Boolean(p.status?.containerStatuses?.[1]?.lastState?.terminated),
    );
    expect(multi.status!.containerStatuses!.map((c) => [c.name, c.restartCount > 0])).toEqual([
      ["app", false],
      ["sidecar", true],
    ]);
    await expect(
      core.readNamespacedPodLog({ name: "pull", namespace: NS, container: "app" }),
    ).rejects.toMatchObject({ code: 400 });
  });

  it("crashes a container on demand and switches scenarios", async () => {
    await createPod("steady", "healthy");
    await podWhen("steady", (p) => Boolean(app(p)?.state?.running));
    await kubelet.crashNow(NS, "steady", "app", { exitCode: 143, reason: "Error", message: "bye" });
    const crashed = await core.readNamespacedPod({ name: "steady", namespace: NS });
    expect(app(crashed)!.lastState!.terminated).toMatchObject({
      exitCode: 143,
      signal: 15,
      message: "bye",
    });
    expect(app(crashed)!.state!.waiting!.reason).toBe("CrashLoopBackOff");
    await kubelet.setScenario(NS, "steady", "oomkilled");
    const oom = await podWhen(
      "steady",
      (p) => app(p)?.lastState?.terminated?.reason === "OOMKilled",
    );
    expect(app(oom)!.restartCount).toBeGreaterThanOrEqual(2);
    await kubelet.setScenario(NS, "steady", "healthy");
    await kubelet.runNow(NS, "steady", "app");
    kubelet.setLog(NS, "steady", "app", { current: "custom line\n" });
    expect(
      await core.readNamespacedPodLog({ name: "steady", namespace: NS, container: "app" }),
    ).toBe("custom line\n");
  });

  it("writes a real checkpoint archive for a running container, 404 otherwise", async () => {
    await createPod("snap", "healthy");
    await podWhen("snap", (p) => Boolean(app(p)?.state?.running));
    const dispatcher = new Agent({ connect: { ca: cluster.caPem } });
    const checkpoint = (pod: string) =>
      fetch(`https://127.0.0.1:${kubelet.port}/checkpoint/${NS}/${pod}/app`, {
        method: "POST",
        headers: { authorization: `Bearer ${cluster.adminToken}` },
        dispatcher,
      });
    const response = await checkpoint("snap");
    expect(response.status).toBe(200);
    const { items } = (await response.json()) as { items: string[] };
    expect(items).toHaveLength(1);
    expect(path.basename(items[0]!)).toMatch(
      /^checkpoint-snap_harness-app-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\.tar$/,
    );
    const entries = execFileSync("tar", ["-tf", items[0]!]).toString().split("\n").filter(Boolean);
    expect(entries).toEqual(["config.dump", "spec.dump", "checkpoint/pages-1.img"]);
    expect(statSync(items[0]!).size).toBeGreaterThan(256 * 1024);
    const spec = execFileSync("tar", ["-xOf", items[0]!, "spec.dump"]).toString();
    expect(JSON.parse(spec)).toMatchObject({ annotations: { "io.kubernetes.pod.name": "snap" } });
    expect((await checkpoint("pull")).status).toBe(404);
    await dispatcher.close();
  });

  it("runs a local-run pod's command and reports its exit code and termination message", async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "local-run", annotations: { [RUN_ANNOTATION]: "local" } },
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "task",
              image: "busybox",
              command: [
                "sh",
                "-c",
                'echo "$GREETING from $(WHO)"; printf done > "$TERMINATION_MESSAGE_PATH"; exit 3',
              ],
              env: [
                { name: "WHO", value: "world" },
                { name: "GREETING", value: "hello $(WHO)" },
              ],
            },
          ],
        },
      },
    });
    const pod = await podWhen("local-run", (p) => Boolean(app(p)?.state?.terminated));
    expect(app(pod)!.state!.terminated).toMatchObject({
      exitCode: 3,
      reason: "Error",
      message: "done",
    });
    expect(pod.status?.phase).toBe("Failed");
    expect(
      await core.readNamespacedPodLog({ name: "local-run", namespace: NS, container: "task" }),
    ).toBe("hello world from world\n");
  });

  it("falls back to the log's tail for the message and enforces activeDeadlineSeconds", async () => {
    const localPod = (name: string, script: string, spec: Partial<NonNullable<V1Pod["spec"]>>) =>
      core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { name, annotations: { [RUN_ANNOTATION]: "local" } },
          spec: {
            restartPolicy: "Never",
            containers: [
              {
                name: "task",
                image: "busybox",
                command: ["sh", "-c", script],
                terminationMessagePolicy: "FallbackToLogsOnError",
              },
            ],
            ...spec,
          },
        },
      });
    await localPod("fallback", "echo one; echo boom >&2; exit 2", {});
    await localPod("overdue", "exec sleep 300", { activeDeadlineSeconds: 1 });
    const fallback = await podWhen("fallback", (p) => Boolean(app(p)?.state?.terminated));
    expect(app(fallback)!.state!.terminated).toMatchObject({ exitCode: 2, message: "one\nboom" });
    const overdue = await podWhen("overdue", (p) => p.status?.phase === "Failed");
    expect(overdue.status?.reason).toBe("DeadlineExceeded");
    expect(app(overdue)!.state!.terminated).toMatchObject({ exitCode: 143, signal: 15 });
  });

  it("runs podmortem's own image with the test's Node and kills a deleted pod's process", async () => {
    const pidFile = path.join(scratch, "pid");
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "podmortem-help" },
        spec: {
          restartPolicy: "Never",
          containers: [{ name: "cli", image: "podmortem:dev", args: ["--help"] }],
        },
      },
    });
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "sleeper", annotations: { [RUN_ANNOTATION]: "local" } },
        spec: {
          containers: [
            {
              name: "sleep",
              image: "busybox",
              // $$ is the kubelet's escape for $, as in a real pod spec.
              command: ["sh", "-c", 'echo $$$$ > "$PID_FILE"; exec sleep 300'],
              env: [{ name: "PID_FILE", value: pidFile }],
            },
          ],
        },
      },
    });
    const help = await podWhen("podmortem-help", (p) => p.status?.phase === "Succeeded");
    expect(app(help)!.state!.terminated).toMatchObject({ exitCode: 0, reason: "Completed" });
    expect(
      await core.readNamespacedPodLog({ name: "podmortem-help", namespace: NS, container: "cli" }),
    ).toContain("usage: podmortem");

    await podWhen("sleeper", (p) => Boolean(app(p)?.state?.running));
    const pid = await eventually(async () => {
      const written = Number.parseInt(readFileSync(pidFile, "utf8"), 10);
      if (!(written > 0)) throw new Error("no pid yet");
      return written;
    });
    expect(() => process.kill(pid, 0)).not.toThrow();
    await core.deleteNamespacedPod({ name: "sleeper", namespace: NS });
    await eventually(async () => expect(() => process.kill(pid, 0)).toThrow());
    await eventually(async () =>
      expect(core.readNamespacedPod({ name: "sleeper", namespace: NS })).rejects.toMatchObject({
        code: 404,
      }),
    );
  });

  it("plays kubelet for a Deployment's pods made by the controller manager", async () => {
    await cluster
      .kubeConfig()
      .makeApiClient(AppsV1Api)
      .createNamespacedDeployment({
        namespace: NS,
        body: {
          metadata: { name: "shop" },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: "shop" } },
            template: {
              metadata: {
                labels: { app: "shop" },
                annotations: { [SCENARIO_ANNOTATION]: "crashloop" },
              },
              spec: { containers: [{ name: "app", image: "registry.example/shop:1" }] },
            },
          },
        },
      });
    const pods = await eventually(async () => {
      const list = await core.listNamespacedPod({ namespace: NS, labelSelector: "app=shop" });
      expect(list.items).toHaveLength(2);
      for (const pod of list.items) {
        expect(pod.metadata?.ownerReferences?.[0]?.kind).toBe("ReplicaSet");
        expect(app(pod)?.lastState?.terminated?.exitCode).toBe(1);
      }
      return list.items;
    }, 30_000);
    expect(new Set(pods.map((p) => p.spec?.nodeName))).toEqual(new Set(["node-a", "node-b"]));
  });
});

describe("an API server restart", () => {
  it("keeps the data, and the fake kubelet goes on binding and reporting", async () => {
    const started = Date.now();
    await cluster.restartApiServer();
    const restartMs = Date.now() - started;
    const pods = await core.listNamespacedPod({ namespace: NS });
    expect(pods.items.map((p) => p.metadata?.name)).toContain("looping");
    await createPod("after-restart", "crashloop");
    await podWhen("after-restart", (p) => Boolean(app(p)?.lastState?.terminated), 20_000);
    expect(restartMs).toBeLessThan(60_000);
  });
});
