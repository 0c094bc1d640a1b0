import yaml from "js-yaml";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { REPO_ROOT, chartDefaults, helmLint, renderChart, type K8sObject } from "./chart.ts";

type Container = {
  name: string;
  image: string;
  args?: string[];
  env?: Array<{ name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  securityContext?: Record<string, unknown>;
};
type PodSpec = {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext?: Record<string, unknown>;
  containers: Container[];
};
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

const BASE = { clusterName: "prod-eu-1" };
// The workflows of the chart's own version (appVersion 0.1.0): each release has its own.
const WORKFLOWS = "podmortem-workflows-0-1-0";

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found)
    throw new Error(
      `no ${kind}/${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}`,
    );
  return found;
}

function podSpec(object: K8sObject): PodSpec {
  return (object.spec as { template: { spec: PodSpec } }).template.spec;
}

/** The metric names the watcher and the workflows register. */
function exportedMetrics(): string[] {
  return ["watcher/metrics.ts", "workflows/metrics.ts"].flatMap((file) =>
    [
      ...readFileSync(path.join(REPO_ROOT, file), "utf8").matchAll(/name: "(forensics_[a-z_]+)"/g),
    ].map((m) => m[1]!),
  );
}

/** The variable names a process's config schema reads (the keys of its zod object). */
function configKeys(file: string): string[] {
  const source = readFileSync(path.join(REPO_ROOT, "src", "config", file), "utf8");
  const block = source.slice(source.indexOf("z.looseObject({"), source.indexOf("});"));
  return [...block.matchAll(/^\s{2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!).sort();
}

/** Every variable a container gets: its ConfigMap's keys and its own env. */
function envNames(objects: K8sObject[], container: Container): string[] {
  const names = (container.env ?? []).map((e) => e.name);
  for (const source of container.envFrom ?? []) {
    if (!source.configMapRef) continue;
    const map = find(objects, "ConfigMap", source.configMapRef.name) as K8sObject & {
      data: Record<string, string>;
    };
    names.push(...Object.keys(map.data));
  }
  return names.sort();
}

function rulesOf(objects: K8sObject[], kind: string, name: string): Rule[] {
  return (find(objects, kind, name) as K8sObject & { rules: Rule[] }).rules;
}

function grants(rules: Rule[]): string[] {
  return rules
    .flatMap((r) =>
      r.resources.flatMap((res) =>
        r.verbs.map(
          (v) =>
            `${r.apiGroups[0] || "core"}/${res}:${v}${r.resourceNames ? `[${r.resourceNames.join(",")}]` : ""}`,
        ),
      ),
    )
    .sort();
}

// The value sets the GitHub workflow renders, each linted by the real helm (v4.1.4).
const VALUE_SETS: Record<string, Record<string, unknown>> = {
  defaults: BASE,
  namespaced: { ...BASE, rbac: { scope: "namespaces", namespaces: ["shop", "payments"] } },
  "restate-operator": {
    ...BASE,
    restate: {
      registration: { mode: "restateDeployment", restateDeployment: { cluster: "restate" } },
    },
  },
  "everything-on": {
    ...BASE,
    networkPolicy: { enabled: true },
    serviceMonitor: { enabled: true },
    prometheusRule: { enabled: true },
    rbac: { capture: { checkpoint: true, restartAfterSalvage: true } },
    s3: { bucket: "forensics", credentialsSecret: "s3" },
    restate: { authToken: { existingSecret: "cloud" }, identityKeys: ["publickeyv1_abc"] },
  },
  minimal: {
    ...BASE,
    rbac: { capture: { snapshots: false, forensicPod: false } },
    dashboards: { enabled: false },
    watcher: { leaderElection: { enabled: false } },
    restate: { registration: { mode: "none" } },
  },
};

describe("helm lint --strict", () => {
  it.each(Object.keys(VALUE_SETS))("passes with the %s values", (name) => {
    expect(helmLint(VALUE_SETS[name])).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it("fails on values the schema refuses", () => {
    expect(() => helmLint({ ...BASE, watcher: { replicas: 0 } })).toThrow(/1 chart\(s\) failed/);
  });
});

describe("the chart's settings match the processes' config one to one", () => {
  const everything = {
    ...BASE,
    restate: {
      authToken: { existingSecret: "restate-cloud" },
      identityKeys: ["publickeyv1_abc", "publickeyv1_def"],
    },
    watcher: { identity: "watcher-a" },
    workflows: { secretsKey: { existingSecret: "podmortem-secrets-key" } },
    s3: {
      bucket: "forensics",
      prefix: "prod/",
      endpoint: "https://minio.example:9000",
      region: "eu-west-1",
      forcePathStyle: true,
      kmsKeyId: "alias/x",
      credentialsSecret: "s3-creds",
    },
  };

  it("sets every variable the watcher reads, and none it doesn't", () => {
    const { objects } = renderChart(everything);
    const container = podSpec(find(objects, "Deployment", "podmortem-watcher")).containers[0]!;
    // KUBECONFIG: in a pod the in-cluster service account is used instead.
    const expected = configKeys("watcher-config.ts").filter((key) => key !== "KUBECONFIG");
    expect(envNames(objects, container)).toEqual(expected);
    expect(container.args).toEqual(["watcher"]);
  });

  it("sets every variable the workflows read, and none they don't", () => {
    const { objects } = renderChart(everything);
    const container = podSpec(find(objects, "Deployment", WORKFLOWS)).containers[0]!;
    const expected = configKeys("workflows-config.ts").filter((key) => key !== "KUBECONFIG");
    expect(envNames(objects, container)).toEqual(expected);
    expect(container.envFrom).toContainEqual({ secretRef: { name: "s3-creds" } });
    expect(container.args).toEqual(["workflows"]);
  });

  it("turns values into the settings' own formats", () => {
    const { objects } = renderChart({
      ...everything,
      restate: { ...everything.restate, requestTimeoutMs: 600_000 },
      watcher: { configPollIntervalMs: 3_600_000, leaderElection: { retryPeriodS: 0.5 } },
    });
    const watcher = find(objects, "ConfigMap", "podmortem-watcher").data as Record<string, string>;
    const workflows = find(objects, "ConfigMap", "podmortem-workflows").data as Record<
      string,
      string
    >;
    // Helm holds numbers as float64: without int64 this would read 3.6e+06.
    expect(watcher.PODMORTEM_RESTATE_TIMEOUT_MS).toBe("600000");
    expect(watcher.PODMORTEM_CONFIG_POLL_INTERVAL_MS).toBe("3600000");
    expect(watcher.PODMORTEM_RETRY_PERIOD_S).toBe("0.5");
    expect(watcher.PODMORTEM_LEADER_ELECTION).toBe("true");
    expect(watcher.PODMORTEM_LEASE_NAMESPACE).toBe("podmortem");
    expect(workflows.PODMORTEM_RESTATE_IDENTITY_KEYS).toBe("publickeyv1_abc,publickeyv1_def");
    expect(workflows.PODMORTEM_S3_FORCE_PATH_STYLE).toBe("true");
    expect(workflows.PODMORTEM_RETRIEVER_IMAGE).toBe("ghcr.io/podmortem/podmortem:0.1.0");
    const tokenRef = podSpec(
      find(objects, "Deployment", "podmortem-watcher"),
    ).containers[0]!.env!.find((e) => e.name === "PODMORTEM_RESTATE_AUTH_TOKEN");
    expect(tokenRef?.valueFrom?.secretKeyRef).toEqual({ name: "restate-cloud", key: "token" });
  });

  it("keeps the Restate auth token out of ConfigMaps", () => {
    const { objects } = renderChart(everything);
    for (const map of objects.filter((o) => o.kind === "ConfigMap")) {
      expect(Object.keys((map.data as object) ?? {})).not.toContain("PODMORTEM_RESTATE_AUTH_TOKEN");
    }
  });
});

describe("RBAC follows what the code calls", () => {
  it("grants the watcher cluster-wide: pods, owners, kube-system, labelled namespaces, its Lease", () => {
    const { objects } = renderChart(BASE);
    expect(grants(rulesOf(objects, "ClusterRole", "podmortem-watcher"))).toEqual([
      "apps/daemonsets:get",
      "apps/deployments:get",
      "apps/replicasets:get",
      "apps/statefulsets:get",
      "batch/cronjobs:get",
      "batch/jobs:get",
      "core/pods:list",
      "core/pods:watch",
      "core/replicationcontrollers:get",
    ]);
    expect(grants(rulesOf(objects, "ClusterRole", "podmortem-watcher-cluster"))).toEqual([
      "core/namespaces:get[kube-system]",
      "core/namespaces:list",
      "core/namespaces:watch",
    ]);
    expect(grants(rulesOf(objects, "Role", "podmortem-watcher-leader-election"))).toEqual([
      "coordination.k8s.io/leases:create",
      "coordination.k8s.io/leases:get[podmortem-watcher]",
      "coordination.k8s.io/leases:update[podmortem-watcher]",
    ]);
    find(objects, "ClusterRoleBinding", "podmortem-watcher");
  });

  it("binds only in the listed namespaces in namespaces scope, without namespace list/watch", () => {
    const { objects } = renderChart({
      ...BASE,
      rbac: { scope: "namespaces", namespaces: ["shop", "pay"] },
    });
    const bindings = objects.filter(
      (o) => o.kind === "RoleBinding" && o.metadata.name === "podmortem-watcher",
    );
    expect(bindings.map((b) => b.metadata.namespace)).toEqual(["shop", "pay"]);
    expect(
      objects.some(
        (o) => o.kind === "ClusterRoleBinding" && o.metadata.name === "podmortem-watcher",
      ),
    ).toBe(false);
    expect(
      objects.some(
        (o) => o.kind === "ClusterRoleBinding" && o.metadata.name === "podmortem-workflows",
      ),
    ).toBe(false);
    expect(grants(rulesOf(objects, "ClusterRole", "podmortem-watcher-cluster"))).toEqual([
      "core/namespaces:get[kube-system]",
    ]);
    const workflowBindings = objects.filter(
      (o) => o.kind === "RoleBinding" && o.metadata.name === "podmortem-workflows",
    );
    expect(workflowBindings.map((b) => b.metadata.namespace)).toEqual(["shop", "pay"]);
  });

  it("grants the workflows only what the capture steps turned on need", () => {
    const defaults = renderChart(BASE).objects;
    expect(grants(rulesOf(defaults, "ClusterRole", "podmortem-workflows"))).toEqual([
      "apps/controllerrevisions:list",
      "apps/replicasets:get",
      "apps/replicasets:list",
      "core/events:list",
      "core/persistentvolumeclaims:create",
      "core/persistentvolumeclaims:delete",
      "core/persistentvolumeclaims:get",
      "core/pods/log:get",
      "core/pods:create",
      "core/pods:delete",
      "core/pods:get",
      "networking.k8s.io/networkpolicies:create",
      "networking.k8s.io/networkpolicies:delete",
      "snapshot.storage.k8s.io/volumesnapshots:create",
      "snapshot.storage.k8s.io/volumesnapshots:delete",
      "snapshot.storage.k8s.io/volumesnapshots:get",
    ]);
    expect(grants(rulesOf(defaults, "ClusterRole", "podmortem-workflows-nodes"))).toEqual([
      "core/nodes:get",
    ]);
    expect(defaults.some((o) => o.metadata.name === "podmortem-workflows-retriever")).toBe(false);

    const evidenceOnly = renderChart({
      ...BASE,
      rbac: { capture: { snapshots: false, forensicPod: false } },
    }).objects;
    expect(grants(rulesOf(evidenceOnly, "ClusterRole", "podmortem-workflows"))).toEqual([
      "apps/controllerrevisions:list",
      "apps/replicasets:get",
      "apps/replicasets:list",
      "core/events:list",
      "core/pods/log:get",
      "core/pods:get",
    ]);

    const restartOnly = renderChart({
      ...BASE,
      rbac: { capture: { snapshots: false, forensicPod: false, restartAfterSalvage: true } },
    }).objects;
    expect(grants(rulesOf(restartOnly, "ClusterRole", "podmortem-workflows"))).toContain(
      "core/pods:delete",
    );
    expect(grants(rulesOf(restartOnly, "ClusterRole", "podmortem-workflows"))).not.toContain(
      "core/pods:create",
    );
  });

  it("grants checkpoints through nodes/checkpoint (never nodes/proxy) and retriever pods in one namespace", () => {
    const { objects } = renderChart({
      ...BASE,
      rbac: { capture: { checkpoint: true } },
      retriever: { namespace: "forensics" },
    });
    expect(grants(rulesOf(objects, "ClusterRole", "podmortem-workflows-nodes"))).toEqual([
      "core/nodes/checkpoint:create",
      "core/nodes:get",
    ]);
    const role = find(objects, "Role", "podmortem-workflows-retriever");
    expect(role.metadata.namespace).toBe("forensics");
    expect(grants(rulesOf(objects, "Role", "podmortem-workflows-retriever"))).toEqual([
      "core/pods:create",
      "core/pods:delete",
      "core/pods:get",
    ]);
    const all = objects.flatMap((o) => (o.rules as Rule[] | undefined) ?? []);
    expect(all.flatMap((r) => r.resources)).not.toContain("nodes/proxy");
    expect(all.flatMap((r) => r.resources)).not.toContain("secrets");
    expect(all.flatMap((r) => r.verbs)).not.toContain("*");
  });

  it("renders no RBAC when told not to", () => {
    const { objects } = renderChart({ ...BASE, rbac: { create: false } });
    expect(objects.filter((o) => o.apiVersion.startsWith("rbac."))).toEqual([]);
  });
});

describe("registration with Restate", () => {
  it("registers with a post-install/upgrade Job calling podmortem register, without a Kubernetes token", () => {
    const { objects } = renderChart({
      ...BASE,
      restate: { adminToken: { existingSecret: "restate-admin", key: "t" } },
    });
    const job = find(objects, "Job", "podmortem-register");
    expect(job.metadata.annotations?.["helm.sh/hook"]).toBe("post-install,post-upgrade");
    const spec = podSpec(job);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.containers[0]!.args).toEqual([
      "register",
      "--endpoint",
      "http://podmortem-workflows-0-1-0.podmortem.svc:9080",
      "--admin-url",
      "http://restate.restate.svc.cluster.local:9070",
    ]);
    expect(spec.containers[0]!.env).toEqual([
      {
        name: "RESTATE_ADMIN_TOKEN",
        valueFrom: { secretKeyRef: { name: "restate-admin", key: "t" } },
      },
    ]);
    const register = readFileSync(path.join(REPO_ROOT, "cli", "commands", "register.ts"), "utf8");
    expect(register).toContain("RESTATE_ADMIN_TOKEN");
    expect(register).toContain('"admin-url"');
    // The Service the endpoint URL names exists, on that port.
    const service = find(objects, "Service", WORKFLOWS) as K8sObject & {
      spec: { ports: Array<{ name: string; port: number }> };
    };
    expect(service.spec.ports).toContainEqual(
      expect.objectContaining({ name: "restate", port: 9080 }),
    );
  });

  it("runs the workflows as a RestateDeployment for the Restate operator instead", () => {
    const { objects } = renderChart({
      ...BASE,
      restate: {
        registration: { mode: "restateDeployment", restateDeployment: { cluster: "restate" } },
      },
    });
    const rd = find(objects, "RestateDeployment", "podmortem-workflows") as K8sObject & {
      spec: { restate: { register: Record<string, string> }; template: { spec: PodSpec } };
    };
    expect(rd.apiVersion).toBe("restate.dev/v1beta1");
    expect(rd.spec.restate.register).toEqual({ cluster: "restate" });
    expect(rd.spec.template.spec.containers[0]!.args).toEqual(["workflows"]);
    // The operator makes the ReplicaSets and Services, and registers each version itself.
    const workflowsObjects = objects.filter(
      (o) => o.metadata.name === "podmortem-workflows" && o.kind !== "RestateDeployment",
    );
    expect(workflowsObjects.map((o) => o.kind).sort()).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "ConfigMap",
      "ServiceAccount",
    ]);
    expect(objects.some((o) => o.kind === "Job")).toBe(false);
  });

  it("leaves registration to the user with mode none", () => {
    const { objects } = renderChart({ ...BASE, restate: { registration: { mode: "none" } } });
    expect(objects.filter((o) => o.kind === "Job" || o.kind === "RestateDeployment")).toEqual([]);
  });
});

describe("versioned workflows: each release registers its own endpoint", () => {
  type Versioned = K8sObject & {
    spec: {
      selector: { matchLabels: Record<string, string> };
      template?: { metadata: { labels: Record<string, string> } };
    };
  };
  const release = (values: Record<string, unknown>) => {
    const { objects } = renderChart({ ...BASE, ...values });
    const deployment = objects.find(
      (o) =>
        o.kind === "Deployment" &&
        o.metadata.labels?.["app.kubernetes.io/component"] === "workflows",
    ) as Versioned;
    const service = find(objects, "Service", deployment.metadata.name) as Versioned;
    const job = podSpec(find(objects, "Job", "podmortem-register")).containers[0]!;
    return { deployment, service, endpoint: job.args![job.args!.indexOf("--endpoint") + 1], job };
  };

  it("names the Deployment, Service and registered URL for the image's version", () => {
    const v1 = release({ image: { tag: "1.4.0" } });
    const v2 = release({ image: { tag: "1.5.0-rc.1" } });
    expect(v1.deployment.metadata.name).toBe("podmortem-workflows-1-4-0");
    expect(v2.deployment.metadata.name).toBe("podmortem-workflows-1-5-0-rc-1");
    expect(v1.endpoint).toBe("http://podmortem-workflows-1-4-0.podmortem.svc:9080");
    expect(v2.endpoint).toBe("http://podmortem-workflows-1-5-0-rc-1.podmortem.svc:9080");
    const digest = `sha256:${"c0ffee".repeat(10)}abcd`;
    expect(release({ image: { digest } }).deployment.metadata.name).toBe(
      "podmortem-workflows-dc0ffeec0ffee",
    );
    expect(release({ workflows: { version: "2026-12" } }).endpoint).toBe(
      "http://podmortem-workflows-2026-12.podmortem.svc:9080",
    );
  });

  it("keeps an old version's pods apart and alive across an upgrade, and never forces", () => {
    const v1 = release({ image: { tag: "1.4.0" } });
    for (const object of [v1.deployment, v1.service]) {
      // Helm leaves it in place when the next release no longer renders it.
      expect(object.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
      expect(object.metadata.labels?.["podmortem.io/version"]).toBe("1-4-0");
    }
    // Each version's Service selects only its own pods.
    expect(v1.service.spec.selector).toMatchObject({ "podmortem.io/version": "1-4-0" });
    expect(v1.deployment.spec.selector.matchLabels).toMatchObject({
      "podmortem.io/version": "1-4-0",
    });
    expect(v1.deployment.spec.template!.metadata.labels["podmortem.io/version"]).toBe("1-4-0");
    expect(v1.job.args).not.toContain("--force");
    const register = readFileSync(path.join(REPO_ROOT, "cli", "commands", "register.ts"), "utf8");
    expect(register).not.toMatch(/force/);
  });
});

describe("exposure", () => {
  it("turns on request identity for the workflows endpoint only when a key is given", () => {
    const settings = (values: Record<string, unknown>) =>
      find(renderChart({ ...BASE, ...values }).objects, "ConfigMap", "podmortem-workflows")
        .data as Record<string, string>;
    expect(settings({})).not.toHaveProperty("PODMORTEM_RESTATE_IDENTITY_KEYS");
    expect(
      settings({ restate: { identityKeys: ["publickeyv1_abc"] } }).PODMORTEM_RESTATE_IDENTITY_KEYS,
    ).toBe("publickeyv1_abc");
    // The variable the workflows read, so the key reaches the endpoint.
    expect(configKeys("workflows-config.ts")).toContain("PODMORTEM_RESTATE_IDENTITY_KEYS");
  });

  it("narrows Restate's ingress to the watcher and the admin namespaces when asked", () => {
    type Peer = {
      namespaceSelector?: { matchLabels: Record<string, string> };
      podSelector?: { matchLabels: Record<string, string> };
    };
    type Policy = K8sObject & {
      spec: {
        podSelector: { matchLabels: Record<string, string> };
        ingress: Array<{ ports: Array<{ port: number }>; from: Peer[] }>;
      };
    };
    expect(renderChart(BASE).objects.some((o) => o.metadata.name === "podmortem-restate")).toBe(
      false,
    );
    const { objects } = renderChart({
      ...BASE,
      networkPolicy: { restate: { enabled: true, namespace: "restate", adminNamespaces: ["ops"] } },
    });
    const policy = find(objects, "NetworkPolicy", "podmortem-restate") as Policy;
    expect(policy.metadata.namespace).toBe("restate");
    expect(policy.spec.podSelector.matchLabels).toEqual({ "app.kubernetes.io/name": "restate" });
    const byPort = new Map(policy.spec.ingress.map((rule) => [rule.ports[0]!.port, rule.from]));
    expect([...byPort.keys()]).toEqual([8080, 9070, 5122]);
    const watcherPods = {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "podmortem" } },
      podSelector: {
        matchLabels: {
          "app.kubernetes.io/name": "podmortem",
          "app.kubernetes.io/instance": "podmortem",
          "app.kubernetes.io/component": "watcher",
        },
      },
    };
    const ops = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ops" } } };
    expect(byPort.get(8080)).toEqual([watcherPods, ops]);
    expect(byPort.get(9070)).toEqual([
      {
        ...watcherPods,
        podSelector: {
          matchLabels: {
            ...watcherPods.podSelector.matchLabels,
            "app.kubernetes.io/component": "register",
          },
        },
      },
      ops,
    ]);
    expect(byPort.get(5122)).toEqual([
      { podSelector: { matchLabels: { "app.kubernetes.io/name": "restate" } } },
    ]);
    // The register Job's pods carry the labels the admin rule names.
    const job = find(objects, "Job", "podmortem-register") as K8sObject & {
      spec: { template: { metadata: { labels: Record<string, string> } } };
    };
    expect(job.spec.template.metadata.labels).toMatchObject(
      byPort.get(9070)![0]!.podSelector!.matchLabels,
    );
  });
});

describe("pods", () => {
  it("run every podmortem container non-root, read-only, without capabilities", () => {
    const { objects } = renderChart(BASE);
    const workloads = objects.filter((o) => ["Deployment", "Job"].includes(o.kind));
    expect(workloads.map((o) => o.metadata.name).sort()).toEqual([
      "podmortem-register",
      "podmortem-watcher",
      WORKFLOWS,
    ]);
    for (const workload of workloads) {
      const spec = podSpec(workload);
      expect(spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      for (const container of spec.containers) {
        expect(container.securityContext).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        });
        expect(container.image).toBe("ghcr.io/podmortem/podmortem:0.1.0");
      }
    }
  });

  it("pins the image by digest when given", () => {
    const digest = `sha256:${"b".repeat(64)}`;
    const { objects } = renderChart({ ...BASE, image: { digest } });
    const container = podSpec(find(objects, "Deployment", "podmortem-watcher")).containers[0]!;
    expect(container.image).toBe(`ghcr.io/podmortem/podmortem@${digest}`);
  });

  it("rolls the pods when their settings change", () => {
    const checksum = (values: Record<string, unknown>) =>
      (
        find(renderChart(values).objects, "Deployment", "podmortem-watcher").spec as {
          template: { metadata: { annotations: Record<string, string> } };
        }
      ).template.metadata.annotations["checksum/config"];
    expect(checksum(BASE)).toMatch(/^[a-f0-9]{64}$/);
    expect(checksum({ ...BASE, watcher: { logLevel: "debug" } })).not.toBe(checksum(BASE));
  });

  it("keeps one watcher available through disruptions and rolls without a gap", () => {
    const { objects } = renderChart(BASE);
    const pdb = find(objects, "PodDisruptionBudget", "podmortem-watcher");
    expect(pdb.spec).toMatchObject({ minAvailable: 1 });
    expect(find(objects, "Deployment", "podmortem-watcher").spec).toMatchObject({
      replicas: 2,
      strategy: { rollingUpdate: { maxUnavailable: 0 } },
    });
  });
});

describe("optional objects", () => {
  it("adds NetworkPolicies that let only Restate reach the endpoint", () => {
    const { objects } = renderChart({ ...BASE, networkPolicy: { enabled: true } });
    const policy = find(objects, "NetworkPolicy", "podmortem-workflows") as K8sObject & {
      spec: { ingress: Array<{ ports: Array<{ port: string }>; from?: unknown[] }> };
    };
    expect(policy.spec.ingress[0]).toEqual({
      ports: [{ port: "restate", protocol: "TCP" }],
      from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "restate" } } }],
    });
    find(objects, "NetworkPolicy", "podmortem-watcher");
    expect(renderChart(BASE).objects.some((o) => o.kind === "NetworkPolicy")).toBe(false);
  });

  it("adds a ServiceMonitor scraping both components", () => {
    const { objects } = renderChart({
      ...BASE,
      serviceMonitor: { enabled: true, labels: { release: "prom" } },
    });
    const monitor = find(objects, "ServiceMonitor", "podmortem");
    expect(monitor.metadata.labels?.release).toBe("prom");
    find(objects, "Service", "podmortem-watcher-metrics");
  });

  it("ships the Grafana dashboard for the sidecar", () => {
    const { objects } = renderChart(BASE);
    const map = find(objects, "ConfigMap", "podmortem-dashboard");
    expect(map.metadata.labels?.grafana_dashboard).toBe("1");
    const shipped = readFileSync(
      path.join(REPO_ROOT, "deploy", "dashboards", "podmortem.json"),
      "utf8",
    );
    expect(JSON.parse((map.data as Record<string, string>)["podmortem.json"]!)).toEqual(
      JSON.parse(shipped),
    );
  });
});

describe("the alerts", () => {
  const shipped = readFileSync(
    path.join(REPO_ROOT, "deploy", "alerts", "podmortem.rules.yaml"),
    "utf8",
  );

  it("are the same file in the chart and in deploy/alerts", () => {
    const inChart = readFileSync(
      path.join(REPO_ROOT, "deploy", "helm", "podmortem", "alerts", "podmortem.rules.yaml"),
      "utf8",
    );
    expect(inChart).toBe(shipped);
  });

  it("render as a PrometheusRule holding every rule of deploy/alerts", () => {
    expect(renderChart(BASE).objects.some((o) => o.kind === "PrometheusRule")).toBe(false);
    const { objects } = renderChart({
      ...BASE,
      prometheusRule: { enabled: true, labels: { release: "kube-prom" } },
    });
    const rule = find(objects, "PrometheusRule", "podmortem") as K8sObject & { spec: unknown };
    expect(rule.apiVersion).toBe("monitoring.coreos.com/v1");
    expect(rule.metadata.labels?.release).toBe("kube-prom");
    expect(rule.spec).toEqual(yaml.load(shipped));
  });

  it("query only metrics the processes export, and cover what an operator must hear about", () => {
    const groups = (
      yaml.load(shipped) as {
        groups: Array<{
          rules: Array<{ alert: string; expr: string; labels: { severity: string } }>;
        }>;
      }
    ).groups;
    const rules = groups.flatMap((g) => g.rules);
    const queried = new Set(
      rules.flatMap((r) => [...r.expr.matchAll(/\b(forensics_[a-z_]+)\b/g)].map((m) => m[1]!)),
    );
    for (const metric of queried) expect(exportedMetrics()).toContain(metric);
    const metricOf = (alert: string) => rules.find((r) => r.alert === alert)?.expr ?? "";
    expect(metricOf("PodmortemCaptureFailed")).toContain(
      'forensics_captures_total{outcome="failed"}',
    );
    expect(metricOf("PodmortemWatcherNotReady")).toContain("forensics_watcher_ready");
    expect(metricOf("PodmortemEventsDropped")).toContain("forensics_watcher_events_dropped_total");
    expect(metricOf("PodmortemReconnectStorm")).toContain("forensics_watcher_reconnects_total");
    expect(metricOf("PodmortemNotificationsFailing")).toContain(
      'forensics_notifications_total{outcome="failed"}',
    );
    for (const rule of rules)
      expect(["critical", "warning", "info"]).toContain(rule.labels.severity);
  });
});

describe("the Grafana dashboard", () => {
  const dashboard = readFileSync(
    path.join(REPO_ROOT, "deploy", "dashboards", "podmortem.json"),
    "utf8",
  );

  it("is the same file in the chart and in deploy/dashboards", () => {
    const inChart = readFileSync(
      path.join(REPO_ROOT, "deploy", "helm", "podmortem", "dashboards", "podmortem.json"),
      "utf8",
    );
    expect(inChart).toBe(dashboard);
  });

  it("queries only metrics the processes export, and shows each one the issue asks for", () => {
    const exported = exportedMetrics();
    const queried = new Set(
      [...dashboard.matchAll(/(forensics_[a-z_]+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1]!),
    );
    for (const metric of queried) expect(exported).toContain(metric);
    const titles = (JSON.parse(dashboard) as { panels: Array<{ title: string }> }).panels.map(
      (p) => p.title,
    );
    for (const wanted of [
      "Detections by reason",
      "Dedup ratio",
      "Queue depth",
      "Captures by outcome",
      "Step failures",
      "Exfiltrated bytes",
      "Batch send latency",
      "Step latency (p95)",
    ])
      expect(titles).toContain(wanted);
  });
});

describe("docs/deploy.md", () => {
  it("lists every value of the chart with its default", () => {
    const docs = readFileSync(path.join(REPO_ROOT, "docs", "deploy.md"), "utf8");
    const leaves: Array<[string, unknown]> = [];
    const walk = (value: unknown, at: string[]) => {
      const isMap = value !== null && typeof value === "object" && !Array.isArray(value);
      const entries = isMap ? Object.entries(value) : [];
      // Free-form maps (resources, selectors, annotations) are one value each.
      if (isMap && entries.length > 0 && !FREE_FORM.has(at.join("."))) {
        for (const [key, inner] of entries) walk(inner, [...at, key]);
      } else leaves.push([at.join("."), value]);
    };
    walk(chartDefaults(), []);
    expect(leaves.length).toBeGreaterThan(80);
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    for (const [name, value] of leaves) {
      const row = `\\|\\s*\`${escape(name)}\`\\s*\\|\\s*\`${escape(JSON.stringify(value))}\`\\s*\\|`;
      expect(docs, name).toMatch(new RegExp(row));
    }
  });
});

const FREE_FORM = new Set([
  "watcher.resources.requests",
  "watcher.resources.limits",
  "workflows.resources.requests",
  "workflows.resources.limits",
  "networkPolicy.restateSelector",
  "networkPolicy.restate.podSelector",
]);
