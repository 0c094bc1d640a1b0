import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { CoreV1Api } from "@kubernetes/client-node";
import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { eventually } from "../harness/eventually.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { freePort } from "../harness/ports.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { runProgram } from "../harness/cli.ts";

const REPO = path.resolve(import.meta.dirname, "..", "..");
let cluster: KubeCluster;
let restate: RestateHarness;
let dir: string;
/** A kubeconfig whose API server is a port nothing listens on. */
let unreachableKubeconfig: string;
/** A Restate ingress URL nothing answers on. */
let restateDown: string;

type Run = { code: number | null; stdout: string; stderr: string };

/**
 * The launchers a user has on PATH after `npm link` (bin/podmortem, bin/kubectl-forensic), with a
 * HOME that holds no ~/.kube/config and only the variables given.
 */
function run(binary: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runProgram(path.join(REPO, "bin", binary), args, {
    env: { PATH: process.env.PATH, HOME: dir, ...env },
  });
}

const restateFlags = () => ["--restate-url", restate.ingressUrl, "--admin-url", restate.adminUrl];

beforeAll(async () => {
  cluster = await startKubeCluster();
  dir = await mkdtemp(path.join(os.tmpdir(), "podmortem-mistakes-"));
  restate = await startRestate({
    services: createServices({
      kube: createKubeAccess(cluster.kubeConfig()),
      store: createDirStore(path.join(dir, "evidence")),
      metrics: createWorkflowMetrics(),
      evidencePrefix: undefined,
      identity: "test",
      version: "test",
    }),
  });
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: "shop" } } });
  await core.createNamespacedPod({
    namespace: "shop",
    body: {
      metadata: { name: "checkout-0" },
      spec: { containers: [{ name: "app", image: "registry.example/checkout:1.0" }] },
    },
  });
  unreachableKubeconfig = path.join(dir, "unreachable.kubeconfig");
  await writeFile(
    unreachableKubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      `clusters: [{ name: c, cluster: { server: "https://127.0.0.1:${await freePort()}", insecure-skip-tls-verify: true } }]`,
      "users: [{ name: u, user: { token: t } }]",
      "contexts: [{ name: c, context: { cluster: c, user: u } }]",
      "current-context: c",
      "",
    ].join("\n"),
  );
  restateDown = `http://127.0.0.1:${await freePort()}`;
  // A cluster configured ahead of its watcher: known from here on.
  const created = await run("podmortem", [
    "config",
    "set",
    "--create",
    "--set",
    "dedup.cooldownS=60",
    "--cluster",
    "known",
    ...restateFlags(),
  ]);
  expect(created).toMatchObject({ code: 0, stderr: "" });
}, 180_000);

afterAll(async () => {
  await restate?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Mistake = {
  what: string;
  binary: "podmortem" | "kubectl-forensic";
  args: () => string[];
  env?: () => Record<string, string>;
  exit: number;
  says: RegExp;
};

const kubeconfig = () => ({ KUBECONFIG: cluster.kubeconfigPath });

const MISTAKES: Mistake[] = [
  {
    what: "kubectl forensic export POD without -n (the pod is in another namespace)",
    binary: "kubectl-forensic",
    args: () => ["export", "checkout-0"],
    env: kubeconfig,
    exit: 3,
    says: /no pod checkout-0 in namespace default .*pass -n NAMESPACE/,
  },
  {
    what: "kubectl forensic export of a pod that does not exist",
    binary: "kubectl-forensic",
    args: () => ["export", "forensic-pm-nosuch", "-n", "shop"],
    env: kubeconfig,
    exit: 3,
    says: /no pod forensic-pm-nosuch in namespace shop: kubectl forensic list -A/,
  },
  {
    what: "kubectl forensic export of a pod that is not a forensic copy",
    binary: "kubectl-forensic",
    args: () => ["export", "checkout-0", "-n", "shop"],
    env: kubeconfig,
    exit: 3,
    says: /shop\/checkout-0 has no .* annotation: not a forensic pod/,
  },
  {
    what: "a kubeconfig file that is not there",
    binary: "kubectl-forensic",
    args: () => ["list", "--kubeconfig", path.join(dir, "nosuch.kubeconfig")],
    exit: 4,
    says: /no kubeconfig at .*nosuch\.kubeconfig \(from --kubeconfig\)/,
  },
  {
    what: "no kubeconfig at all",
    binary: "kubectl-forensic",
    args: () => ["list"],
    exit: 4,
    says: /no kubeconfig: pass --kubeconfig PATH or set KUBECONFIG/,
  },
  {
    what: "an API server that does not answer",
    binary: "kubectl-forensic",
    args: () => ["list", "-A"],
    env: () => ({ KUBECONFIG: unreachableKubeconfig }),
    exit: 4,
    says: /cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
  },
  {
    what: "podmortem export with Restate down",
    binary: "podmortem",
    args: () => ["export", "pm-0123456789abcdef01234567", "--restate-url", restateDown],
    exit: 4,
    says: /Restate at http:\/\/127\.0\.0\.1:\d+ is not answering \(cannot connect to .*ECONNREFUSED\)/,
  },
  {
    what: "podmortem export of a capture id Restate does not know",
    binary: "podmortem",
    args: () => ["export", "pm-0123456789abcdef01234567", ...restateFlags()],
    exit: 3,
    says: /capture pm-0123456789abcdef01234567 is neither in Restate nor in the audit log of cluster dev/,
  },
  {
    what: "config rollback to a version that was never kept",
    binary: "podmortem",
    args: () => ["config", "rollback", "--to", "99", "--cluster", "known", ...restateFlags()],
    exit: 3,
    says: /version: 99 is not in the kept history \(kept: 1\)/,
  },
  {
    what: "config set for a cluster never enrolled (a typo)",
    binary: "podmortem",
    args: () => [
      "config",
      "set",
      "--set",
      "dedup.cooldownS=60",
      "--cluster",
      "knwon",
      ...restateFlags(),
    ],
    exit: 3,
    says: /cluster "knwon" is unknown: no watcher enrolled it/,
  },
  {
    what: "config get for a cluster never enrolled",
    binary: "podmortem",
    args: () => ["config", "get", "--cluster", "knwon", ...restateFlags()],
    exit: 3,
    says: /cluster "knwon" is unknown/,
  },
  {
    what: "audit verify for a cluster that has no audit log",
    binary: "podmortem",
    args: () => ["audit", "verify", "--cluster", "nosuch", ...restateFlags()],
    exit: 3,
    says: /cluster "nosuch" is unknown/,
  },
  {
    what: "config get with Restate down",
    binary: "podmortem",
    args: () => ["config", "get", "--cluster", "known", "--restate-url", restateDown],
    exit: 4,
    says: /Restate at .* is not answering/,
  },
  {
    what: "an option the command does not have",
    binary: "podmortem",
    args: () => ["config", "get", "--frobnicate"],
    exit: 2,
    says: /Unknown option '--frobnicate'/,
  },
  {
    what: "a command that does not exist",
    binary: "podmortem",
    args: () => ["exprot"],
    exit: 2,
    says: /unknown command "exprot"/,
  },
];

describe("every mistake is one sentence on stderr and its documented exit code", () => {
  it.each(MISTAKES)("$what → exit $exit", async (mistake) => {
    const result = await run(mistake.binary, mistake.args(), mistake.env?.() ?? {});
    expect(result.stderr).toMatch(mistake.says);
    expect(result.code).toBe(mistake.exit);
    // One line of the command's own, never a stack trace (an unknown command adds the help).
    const first = result.stderr.split("\n")[0]!;
    expect(first).toMatch(mistake.says);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    if (mistake.exit !== 2) expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it("a refused config set created nothing: the mistyped cluster is still unknown, the real one untouched", async () => {
    const shown = await run("podmortem", [
      "config",
      "get",
      "--cluster",
      "known",
      "--json",
      ...restateFlags(),
    ]);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ version: 1 });
    const rows = await restate.query<{ service_key: string }>(
      "SELECT DISTINCT service_key FROM state WHERE service_name = 'Cluster'",
    );
    expect(rows.map((row) => row.service_key)).toEqual(["known"]);
  });
});

describe("podmortem dev, stopped by an impatient user", () => {
  it("a second Ctrl-C while it stops does not leave restate-server running", async () => {
    const child = spawn(
      path.join(REPO, "bin", "podmortem"),
      ["dev", "--kubeconfig", cluster.kubeconfigPath, "--data-dir", path.join(dir, "dev")],
      { env: { PATH: process.env.PATH, HOME: dir } },
    );
    child.stdin.end();
    let stdout = "";
    let secondSent = false;
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      // The second Ctrl-C the moment the first is being handled (signals sent together merge),
      // while restate-server is still being stopped.
      if (!secondSent && stdout.includes("stopping…")) {
        secondSent = true;
        child.kill("SIGINT");
      }
    });
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    const restateAdmin = "http://127.0.0.1:9070/health";
    await eventually(async () => expect(stdout).toContain("Press Ctrl-C to stop."), 90_000);
    expect((await fetch(restateAdmin)).ok).toBe(true);

    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(stdout).toContain("still stopping the servers");
    await expect(fetch(restateAdmin)).rejects.toThrow();
  }, 120_000);
});
