import { describe, expect, it } from "vitest";

import { chartDefaults, helmTemplate, mergeValues, renderChart, validateValues } from "./chart.ts";

const withCluster = (values: Record<string, unknown> = {}) =>
  mergeValues(chartDefaults(), { clusterName: "prod-eu-1", ...values });

describe("values.schema.json", () => {
  it("accepts the chart's defaults and a full production setup", () => {
    expect(validateValues(withCluster())).toEqual([]);
    expect(
      validateValues(
        withCluster({
          image: { tag: "1.2.3", digest: `sha256:${"a".repeat(64)}` },
          restate: {
            ingressUrl: "https://abc.env.us.restate.cloud:8080",
            adminUrl: "https://abc.env.us.restate.cloud:9070",
            authToken: { existingSecret: "restate-cloud", key: "token" },
            adminToken: { existingSecret: "restate-cloud", key: "admin" },
            identityKeys: ["publickeyv1_ChjENKeMvCtRnqG2mrBK1HmPKufgFUc98K8B3ononQvp"],
            registration: { mode: "restateDeployment", restateDeployment: { cluster: "restate" } },
          },
          s3: {
            bucket: "forensics-prod",
            region: "eu-west-1",
            kmsKeyId: "alias/forensics",
            credentialsSecret: "podmortem-s3",
          },
          rbac: { scope: "namespaces", namespaces: ["shop", "payments"] },
          watcher: {
            podDisruptionBudget: { minAvailable: "50%" },
            leaderElection: { retryPeriodS: 0.5 },
          },
          networkPolicy: { enabled: true },
          serviceMonitor: { enabled: true, interval: "15s", labels: { release: "kube-prom" } },
        }),
      ),
    ).toEqual([]);
  });

  it.each([
    [{ watcher: { replcas: 3 } }, "watcher.replcas: is not a value of this chart"],
    [{ rbac: { scope: "everything" } }, 'rbac.scope: must be one of "cluster", "namespaces"'],
    [{ watcher: { replicas: "two" } }, "watcher.replicas: must be integer"],
    [{ watcher: { replicas: 0 } }, "watcher.replicas: must be >= 1"],
    [{ workflows: { endpointPort: 70_000 } }, "workflows.endpointPort: must be <= 65535"],
    [
      { restate: { ingressUrl: "restate:8080" } },
      'restate.ingressUrl: must match pattern "^https?://',
    ],
    [{ clusterName: "Prod_EU" }, "clusterName: must match pattern"],
    [
      { image: { pullPolicy: "Sometimes" } },
      'image.pullPolicy: must be one of "Always", "IfNotPresent", "Never"',
    ],
    [{ image: { digest: "latest" } }, "image.digest: must match pattern"],
    [{ restate: { identityKeys: ["not-a-key"] } }, "restate.identityKeys.0: must match pattern"],
    [
      { restate: { registration: { mode: "operator" } } },
      'restate.registration.mode: must be one of "job", "restateDeployment", "none"',
    ],
    [{ s3: { bucket: "Has Spaces" } }, "s3.bucket: must match pattern"],
    [{ watcher: { logLevel: "verbose" } }, "watcher.logLevel: must be one of"],
    [
      { watcher: { leaderElection: { leaseDurationS: 1 } } },
      "watcher.leaderElection.leaseDurationS: must be >= 2",
    ],
    [{ rbac: { namespaces: ["Shop"] } }, "rbac.namespaces.0: must match pattern"],
    [{ evidence: { dir: "relative/path" } }, 'evidence.dir: must match pattern "^/"'],
    [{ serviceMonitor: { interval: "often" } }, "serviceMonitor.interval: must match pattern"],
    [{ watcherr: {} }, "watcherr: is not a value of this chart"],
  ])("refuses %j with a message naming the value, and so does helm", (bad, message) => {
    const problems = validateValues(withCluster(bad));
    expect(problems.join("\n")).toContain(message);
    const field = message
      .split(":")[0]!
      .split(".")
      .filter((part) => !/^\d+$/.test(part))
      .at(-1)!;
    expect(() => helmTemplate({ clusterName: "prod-eu-1", ...bad })).toThrow(
      new RegExp(`values don't meet the specifications of the schema[^]*'[^']*${field}`),
    );
  });

  it("lists every problem at once", () => {
    const problems = validateValues(
      withCluster({ watcher: { replicas: -1, httpPort: "http" }, rbac: { scope: "all" } }),
    );
    expect(problems).toHaveLength(3);
  });
});

describe("what the schema cannot express, the chart refuses while rendering", () => {
  it.each([
    [{}, "clusterName is required: the name this cluster is enrolled under in Restate"],
    [
      { clusterName: "c", watcher: { leaderElection: { leaseDurationS: 10, renewDeadlineS: 10 } } },
      "watcher.leaderElection.renewDeadlineS must be shorter than watcher.leaderElection.leaseDurationS",
    ],
    [
      { clusterName: "c", rbac: { scope: "namespaces" } },
      "rbac.scope=namespaces needs rbac.namespaces",
    ],
    [
      { clusterName: "c", restate: { registration: { mode: "restateDeployment" } } },
      "restate.registration.mode=restateDeployment needs one of",
    ],
  ])("refuses %j", (values, message) => {
    expect(() => renderChart(values)).toThrow(message);
  });

  it("refuses values the schema refuses before rendering anything", () => {
    expect(() => renderChart({ clusterName: "c", rbac: { scope: "everything" } })).toThrow(
      /values don't meet the specifications of the schema[^]*at '\/rbac\/scope': value must be one of/,
    );
  });
});
