import {
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { freePort } from "../harness/ports.ts";
import { startProcess, type ManagedProcess } from "../harness/processes.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { ensureTools, runTool } from "../harness/tools.ts";
import { loadManifests, renderChart, REPO_ROOT, type K8sObject } from "../unit/deploy/chart.ts";
import { incidentsFor, setConfig } from "./watcher-helpers.ts";

// The RBAC, ServiceAccounts and watcher settings of deploy/manifests (the chart's rendering),
// applied to a real API server; the watcher runs as the real CLI with that ServiceAccount's token.
const NAMESPACE = "podmortem";
const manifests = loadManifests();
const object = (file: string) => manifests.get(file) ?? [];
const watcherSettings = object("watcher-configmap.yaml")[0] as K8sObject & {
  data: Record<string, string>;
};
const CLUSTER = watcherSettings.data.PODMORTEM_CLUSTER_NAME!;
const WATCHER_SA = `system:serviceaccount:${NAMESPACE}:podmortem-watcher`;
const WORKFLOWS_SA = `system:serviceaccount:${NAMESPACE}:podmortem-workflows`;

let cluster: KubeCluster;
let kubelet: FakeKubelet;
let restate: RestateHarness;
let watcher: ManagedProcess;
let watcherPort: number;
let watcherToken: string;
let admin: KubernetesObjectApi;
let core: CoreV1Api;

async function mintToken(serviceAccount: string): Promise<string> {
  const answer = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = answer.status?.token;
  if (!token) throw new Error(`no token minted for ${serviceAccount}`);
  return token;
}

async function create(body: Record<string, unknown>) {
  const spec: KubernetesObject = body;
  return admin.create(spec);
}

/** A crashing pod owned (ownerReferences) by `owner`, which the fake kubelet runs. */
async function crashingPod(namespace: string, name: string, owner?: KubernetesObject) {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: {
        name,
        annotations: { "fake-kubelet/scenario": "crashloop" },
        ...(owner
          ? {
              ownerReferences: [
                {
                  apiVersion: owner.apiVersion!,
                  kind: owner.kind!,
                  name: owner.metadata!.name!,
                  uid: owner.metadata!.uid!,
                  controller: true,
                },
              ],
            }
          : {}),
      },
      spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
    },
  });
}

function ownedBy(owner: KubernetesObject) {
  return [
    {
      apiVersion: owner.apiVersion!,
      kind: owner.kind!,
      name: owner.metadata!.name!,
      uid: owner.metadata!.uid!,
      controller: true,
    },
  ];
}

const template = (app: string) => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
});

beforeAll(async () => {
  cluster = await startKubeCluster();
  kubelet = await startFakeKubelet(cluster, {
    nodes: ["node-a"],
    restartIntervalMs: 700,
    maxRestarts: 2,
  });
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  admin = KubernetesObjectApi.makeApiClient(cluster.kubeConfig());
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  for (const file of [
    "serviceaccounts.yaml",
    "watcher-rbac.yaml",
    "watcher-configmap.yaml",
    "workflows-rbac.yaml",
  ]) {
    for (const item of object(file)) await admin.create(item);
  }
  watcherToken = await mintToken("podmortem-watcher");

  const evidence = await mkdtemp(path.join(os.tmpdir(), "podmortem-deploy-evidence-"));
  restate = await startRestate({
    services: createServices({
      kube: createKubeAccess(cluster.kubeConfigForToken(await mintToken("podmortem-workflows"))),
      store: createDirStore(evidence),
      metrics: createWorkflowMetrics(),
      evidencePrefix: undefined,
      identity: "deploy-test",
      version: "test",
    }),
  });
  // Label mode: the watcher lists and watches namespaces as well as pods.
  await setConfig(restate, CLUSTER, {
    namespaces: { mode: "label", selector: "podmortem.io/watch=true" },
    dedup: { cooldownS: 1 },
    batch: { flushIntervalMs: 100 },
  });

  watcherPort = await freePort();
  watcher = startProcess(
    path.join(REPO_ROOT, "node_modules", ".bin", "node"),
    [path.join(REPO_ROOT, "bin", "podmortem.js"), "watcher"],
    {
      logFile: path.join(cluster.tempDir, "watcher.log"),
      env: {
        PATH: process.env.PATH,
        // What the pod gets: its ConfigMap, the downward API, and an in-cluster identity
        // (here a kubeconfig holding the ServiceAccount's token).
        ...watcherSettings.data,
        POD_NAME: "podmortem-watcher-7d9f-abcde",
        POD_NAMESPACE: NAMESPACE,
        KUBECONFIG: cluster.writeKubeconfig(watcherToken, "podmortem-watcher"),
        PODMORTEM_RESTATE_URL: restate.ingressUrl,
        PODMORTEM_HTTP_PORT: String(watcherPort),
        PODMORTEM_CONFIG_POLL_INTERVAL_MS: "500",
      },
    },
  );
  await eventually(async () => {
    const answer = await fetch(`http://127.0.0.1:${watcherPort}/readyz`);
    expect(answer.status, watcher.tail()).toBe(200);
  }, 60_000);
}, 180_000);

afterAll(async () => {
  await watcher?.stop("SIGTERM", 5000);
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
});

describe("the chart's RBAC, applied to a real API server", () => {
  it("is enough for the watcher: it leads, follows labelled namespaces, resolves owners and their opt-out", async () => {
    await core.createNamespace({
      body: { metadata: { name: "shop", labels: { "podmortem.io/watch": "true" } } },
    });
    await core.createNamespace({ body: { metadata: { name: "unwatched" } } });

    const web = await create({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "shop" },
      spec: { replicas: 0, selector: { matchLabels: { app: "web" } }, template: template("web") },
    });
    const webRs = await create({
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: { name: "web-5d8c9", namespace: "shop", ownerReferences: ownedBy(web) },
      spec: { replicas: 0, selector: { matchLabels: { app: "web" } }, template: template("web") },
    });
    // Opted out on the Deployment only: seen only when the watcher may read Deployments.
    const quiet = await create({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        name: "quiet",
        namespace: "shop",
        annotations: { "forensic.io/capture": "false" },
      },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: "quiet" } },
        template: template("quiet"),
      },
    });
    const quietRs = await create({
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: { name: "quiet-7f6b4", namespace: "shop", ownerReferences: ownedBy(quiet) },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: "quiet" } },
        template: template("quiet"),
      },
    });
    // Kubernetes 1.20 serves CronJobs as batch/v1beta1.
    const nightly = await create({
      apiVersion: "batch/v1beta1",
      kind: "CronJob",
      metadata: { name: "nightly", namespace: "shop" },
      spec: {
        schedule: "0 3 * * *",
        suspend: true,
        jobTemplate: {
          spec: {
            template: {
              ...template("nightly"),
              spec: { ...template("nightly").spec, restartPolicy: "Never" },
            },
          },
        },
      },
    });
    const run = await create({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "nightly-27512", namespace: "shop", ownerReferences: ownedBy(nightly) },
      spec: {
        manualSelector: true,
        selector: { matchLabels: { app: "nightly" } },
        template: {
          ...template("nightly"),
          spec: { ...template("nightly").spec, restartPolicy: "Never" },
        },
      },
    });

    await crashingPod("shop", "web-5d8c9-x1", webRs);
    await crashingPod("shop", "quiet-7f6b4-x1", quietRs);
    await crashingPod("shop", "nightly-27512-x1", run);
    await crashingPod("unwatched", "stray");

    const found = await eventually(async () => {
      const incidents = await incidentsFor(restate, CLUSTER, "shop");
      const workloads = incidents.map((i) => `${i.workload.kind}/${i.workload.name}`).sort();
      expect(workloads).toEqual(["CronJob/nightly", "Deployment/web"]);
      return incidents;
    }, 60_000);
    expect(found.every((i) => i.lastEvent.pod !== "quiet-7f6b4-x1")).toBe(true);
    expect(await incidentsFor(restate, CLUSTER, "unwatched")).toEqual([]);

    const lease = await cluster.kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({
      name: watcherSettings.data.PODMORTEM_LEASE_NAME!,
      namespace: NAMESPACE,
    });
    expect(lease.spec?.holderIdentity).toBe("podmortem-watcher-7d9f-abcde");

    // Nothing the watcher asked for was refused.
    const log = await readFile(watcher.logFile, "utf8");
    expect(log).not.toMatch(/forbidden|\b403\b/i);
    const metrics = await (await fetch(`http://127.0.0.1:${watcherPort}/metrics`)).text();
    expect(metrics).toMatch(
      /forensics_watcher_events_total\{type="detected",reason="Error"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /forensics_watcher_events_total\{type="opted_out",reason="Error"\} [1-9]/,
    );
  });

  it("is no wider: what the watcher does not need is refused", async () => {
    const kc = cluster.kubeConfigForToken(watcherToken);
    const asWatcher = kc.makeApiClient(CoreV1Api);
    const refusals = {
      "read secrets": () => asWatcher.listNamespacedSecret({ namespace: "kube-system" }),
      "read a namespace other than kube-system": () => asWatcher.readNamespace({ name: "shop" }),
      "delete a pod": () =>
        asWatcher.deleteNamespacedPod({ name: "web-5d8c9-x1", namespace: "shop" }),
      "read a pod's log": () =>
        asWatcher.readNamespacedPodLog({ name: "web-5d8c9-x1", namespace: "shop" }),
      "read nodes": () => asWatcher.readNode({ name: "node-a" }),
      "list configmaps": () => asWatcher.listNamespacedConfigMap({ namespace: NAMESPACE }),
      "take over another Lease": () =>
        kc
          .makeApiClient(CoordinationV1Api)
          .readNamespacedLease({ name: "other", namespace: NAMESPACE }),
    };
    for (const [what, call] of Object.entries(refusals)) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e as { code?: number },
      );
      expect(error?.code, what).toBe(403);
    }
  });

  it("gives the workflows every verb their steps call, and nothing broader", async () => {
    const authz = cluster.kubeConfig().makeApiClient(AuthorizationV1Api);
    const can = async (
      user: string,
      attributes: {
        verb: string;
        resource: string;
        group?: string;
        subresource?: string;
        namespace?: string;
        name?: string;
      },
    ) => {
      const review = await authz.createSubjectAccessReview({
        body: {
          spec: {
            user,
            groups: ["system:serviceaccounts", `system:serviceaccounts:${NAMESPACE}`],
            resourceAttributes: { group: "", ...attributes },
          },
        },
      });
      return review.status?.allowed === true;
    };
    const steps = [
      { verb: "get", resource: "pods", namespace: "shop" },
      { verb: "get", resource: "pods", subresource: "log", namespace: "shop" },
      { verb: "list", resource: "events", namespace: "shop" },
      { verb: "get", resource: "nodes", name: "node-a" },
      { verb: "create", resource: "pods", namespace: "shop" },
      { verb: "delete", resource: "pods", namespace: "shop" },
      {
        verb: "create",
        resource: "networkpolicies",
        group: "networking.k8s.io",
        namespace: "shop",
      },
      {
        verb: "delete",
        resource: "networkpolicies",
        group: "networking.k8s.io",
        namespace: "shop",
      },
      {
        verb: "create",
        resource: "volumesnapshots",
        group: "snapshot.storage.k8s.io",
        namespace: "shop",
      },
      {
        verb: "get",
        resource: "volumesnapshots",
        group: "snapshot.storage.k8s.io",
        namespace: "shop",
      },
      { verb: "get", resource: "persistentvolumeclaims", namespace: "shop" },
      { verb: "create", resource: "persistentvolumeclaims", namespace: "shop" },
      // The copy's TTL deletes the snapshots and the claims restored from them.
      { verb: "delete", resource: "persistentvolumeclaims", namespace: "shop" },
      {
        verb: "delete",
        resource: "volumesnapshots",
        group: "snapshot.storage.k8s.io",
        namespace: "shop",
      },
    ];
    for (const step of steps)
      expect(await can(WORKFLOWS_SA, step), JSON.stringify(step)).toBe(true);
    const broader = [
      { verb: "get", resource: "secrets", namespace: "shop" },
      { verb: "create", resource: "nodes", subresource: "proxy", name: "node-a" },
      // Checkpoints are off by default: the chart grants them only with rbac.capture.checkpoint.
      { verb: "create", resource: "nodes", subresource: "checkpoint", name: "node-a" },
      { verb: "update", resource: "pods", namespace: "shop" },
      { verb: "update", resource: "persistentvolumeclaims", namespace: "shop" },
      { verb: "list", resource: "pods", namespace: "shop" },
    ];
    for (const step of broader)
      expect(await can(WORKFLOWS_SA, step), JSON.stringify(step)).toBe(false);
    // And the watcher may not do the workflows' work.
    expect(await can(WATCHER_SA, { verb: "create", resource: "pods", namespace: "shop" })).toBe(
      false,
    );
  });
});

describe("the chart's rendering, checked by the real API server (server-side dry-run)", () => {
  // What the 1.20 API server of the suite does not serve: policy/v1 arrived in 1.21, the others are
  // CRDs of the Prometheus and Restate operators.
  const NOT_SERVED = [
    "PodDisruptionBudget",
    "PrometheusRule",
    "RestateDeployment",
    "ServiceMonitor",
  ];
  const valueSets: Record<string, Record<string, unknown>> = {
    defaults: { clusterName: CLUSTER },
    namespaced: {
      clusterName: CLUSTER,
      rbac: { scope: "namespaces", namespaces: ["shop", "payments"] },
    },
    "everything-on": {
      clusterName: CLUSTER,
      networkPolicy: { enabled: true, restate: { enabled: true, adminNamespaces: ["ops"] } },
      serviceMonitor: { enabled: true },
      prometheusRule: { enabled: true },
      rbac: { capture: { checkpoint: true, restartAfterSalvage: true } },
      s3: { bucket: "forensics", credentialsSecret: "s3" },
      restate: { authToken: { existingSecret: "cloud" }, identityKeys: ["publickeyv1_abc"] },
    },
    "restate-operator": {
      clusterName: CLUSTER,
      restate: {
        registration: { mode: "restateDeployment", restateDeployment: { cluster: "restate" } },
      },
    },
  };

  it.each(Object.keys(valueSets))("accepts every object of the %s rendering", async (name) => {
    for (const namespace of ["shop", "payments", "ops"]) {
      await core
        .createNamespace({ body: { metadata: { name: namespace } } })
        .catch((error: { code?: number }) => {
          if (error.code !== 409) throw error;
        });
    }
    const { kubectl } = ensureTools();
    const served = new Set(
      runTool(kubectl, ["--kubeconfig", cluster.kubeconfigPath, "api-versions"]).split("\n"),
    );
    const rendering = renderChart(valueSets[name], { name: "podmortem", namespace: NAMESPACE });
    const skipped = rendering.objects.filter((o) => !served.has(o.apiVersion));
    for (const object of skipped) expect(NOT_SERVED).toContain(object.kind);
    const applicable = rendering.objects.filter((o) => served.has(o.apiVersion));
    expect(applicable.length).toBeGreaterThan(10);
    // kubectl wants the objects of each namespace applied in that namespace.
    const byNamespace = Map.groupBy(applicable, (o) => o.metadata.namespace ?? NAMESPACE);
    let accepted = 0;
    for (const [namespace, objects] of byNamespace) {
      const output = runTool(
        kubectl,
        [
          "--kubeconfig",
          cluster.kubeconfigPath,
          "apply",
          "--server-side",
          "--dry-run=server",
          "--force-conflicts",
          "--field-manager=helm",
          "-n",
          namespace,
          "-f",
          "-",
        ],
        { input: objects.map((o) => JSON.stringify(o)).join("\n") },
      );
      // One line per object, each accepted by the server's validation and admission.
      expect(output.match(/serverside-applied \(server dry run\)$/gm)).toHaveLength(objects.length);
      accepted += objects.length;
    }
    expect(accepted).toBe(applicable.length);
  });
});
