import { PutObjectCommand } from "@aws-sdk/client-s3";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import * as clients from "@restatedev/restate-sdk-clients";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { AuditEntry } from "../../src/audit/chain.ts";
import { createS3Client, createS3Store } from "../../src/evidence/s3-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import type { CaptureWorkflow } from "../../workflows/capture.workflow.ts";
import type { ClusterObject } from "../../workflows/cluster.object.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { makePodEvent } from "../fixtures/pod-events.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { startS3, type S3Harness } from "../harness/s3-server.ts";
import { setConfig } from "./watcher-helpers.ts";
import { runBinScript, s3ClientEnv, type CliRun } from "../harness/cli.ts";

const CLUSTER = "edges";
const NS = "shop";
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let s3: S3Harness;
let restate: RestateHarness;
let kc: KubeConfig;
let dir: string;

type Received = { path: string; body: string };
/** A loopback listener no sink may reach: every request it ever gets is recorded. */
let trap: Server;
let trapUrl: string;
const trapped: Received[] = [];
/** The allowed receiver: the barrier that proves the same capture's notifications went out. */
let receiver: Server;
let receiverHost: string;
const received: Received[] = [];

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

function recorder(into: Received[], answer: (path: string) => [number, Record<string, string>]) {
  return createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      into.push({ path: request.url ?? "", body });
      const [status, headers] = answer(request.url ?? "");
      response.writeHead(status, headers).end();
    });
  });
}

/** The real CLI as a user runs it, against this file's Restate and S3. */
function podmortem(...args: string[]): Promise<CliRun> {
  const connection = ["--cluster", CLUSTER, "--restate-url", restate.ingressUrl];
  return runBinScript("podmortem.js", [...args, ...connection, "--admin-url", restate.adminUrl], {
    env: { PATH: process.env.PATH, USER: "mallory", ...s3ClientEnv(s3) },
  });
}

const cluster$ = () =>
  clients
    .connect({ url: restate.ingressUrl })
    .objectClient<ClusterObject>({ name: "Cluster" }, CLUSTER);

async function auditEntries(kind: string): Promise<AuditEntry[]> {
  const rows = await restate.query<{ value_utf8: string }>(
    `SELECT value_utf8 FROM state WHERE service_name = 'AuditLog' AND service_key = '${CLUSTER}' AND key LIKE 'entry:%' AND value_utf8 LIKE '%"kind":"${kind}"%'`,
  );
  return rows.map((row) => JSON.parse(row.value_utf8) as AuditEntry);
}

/** A pod the fake kubelet runs and crashes, and the event the watcher would send for it. */
async function crashedPod(name: string) {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name, annotations: { "fake-kubelet/scenario": "healthy" } },
      spec: { containers: [{ name: "app", image: "registry.example/app:1", command: ["/app"] }] },
    },
  });
  await eventually(async () => {
    const pod = await core.readNamespacedPod({ name, namespace: NS });
    expect(pod.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
  }, 20_000);
  await kubelet.crashNow(NS, name, "app", { exitCode: 1, reason: "Error" });
  const pod = await core.readNamespacedPod({ name, namespace: NS });
  const status = pod.status!.containerStatuses![0]!;
  const terminated = status.state?.terminated ?? status.lastState?.terminated;
  return makePodEvent({
    cluster: CLUSTER,
    namespace: NS,
    pod: name,
    podUID: pod.metadata!.uid!,
    node: pod.spec!.nodeName!,
    container: "app",
    restartCount: status.restartCount,
    exitCode: terminated?.exitCode ?? 1,
    reason: terminated?.reason ?? "Error",
    workload: { kind: "Pod", name },
  });
}

beforeAll(async () => {
  trap = recorder(trapped, () => [200, {}]);
  trapUrl = `http://${await listen(trap)}`;
  receiver = recorder(received, (p) =>
    p === "/redirect" ? [302, { location: `${trapUrl}/redirected` }] : [200, {}],
  );
  receiverHost = await listen(receiver);
  [cluster, s3] = await Promise.all([startKubeCluster(), startS3()]);
  kc = cluster.kubeConfig();
  kubelet = await startFakeKubelet(cluster, { nodes: ["node-a"] });
  const core = kc.makeApiClient(CoreV1Api);
  for (const name of [NS, "podmortem"])
    await core.createNamespace({ body: { metadata: { name } } });
  // The Secret holds what config set never sees: a URL pointing at the trap on loopback.
  await core.createNamespacedSecret({
    namespace: "podmortem",
    body: { metadata: { name: "sneaky" }, stringData: { url: `${trapUrl}/hook` } },
  });
  dir = await mkdtemp(path.join(os.tmpdir(), "podmortem-edges-"));
  const client = createS3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
  });
  restate = await startRestate({
    services: createServices({
      kube: createKubeAccess(kc),
      store: createS3Store({ client, bucket: s3.bucket }),
      metrics: createWorkflowMetrics(),
      evidencePrefix: undefined,
      identity: "edges-test",
      version: "test",
      secretsKey: randomBytes(32),
    }),
  });
  await cluster$().enroll({ clusterUID: "edges-uid" });
}, 120_000);

afterAll(async () => {
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await s3?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  trap?.close();
  receiver?.close();
});

describe("outbound calls and bounded documents", () => {
  it("refuses metadata, IPv6 metadata and loopback sink URLs at config set, naming each field, keeping the old config", async () => {
    const file = path.join(dir, "ssrf.yaml");
    await writeFile(
      file,
      [
        "notifications:",
        "  sinks:",
        "    - { name: imds, type: webhook, url: 'http://169.254.169.254/latest/meta-data/iam/' }",
        "    - { name: imds6, type: webhook, url: 'http://[fd00:ec2::254]/latest/meta-data/' }",
        `    - { name: local, type: webhook, url: '${trapUrl}/hook' }`,
        "",
      ].join("\n"),
    );
    const result = await podmortem("config", "set", "--file", file);
    expect(result.code).toBe(3);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    for (const [index, category] of [
      [0, "cloud metadata"],
      [1, "cloud metadata"],
      [2, "loopback"],
    ] as const)
      expect(result.stderr).toContain(
        `notifications.sinks[${index}].url: points to a ${category} address`,
      );
    expect(result.stderr).not.toContain("169.254.169.254");
    expect(result.stderr).not.toContain(trapUrl);
    expect((await cluster$().showConfig()).version).toBe(0);
  });

  it("refuses bad PagerDuty, Teams and link settings at config set, naming each field, keeping the old config", async () => {
    const before = (await cluster$().showConfig()).version;
    const file = path.join(dir, "sinks.yaml");
    await writeFile(
      file,
      [
        "notifications:",
        "  sinks:",
        "    - { name: pager, type: pagerduty, routingKey: not-a-key }",
        "    - { name: teams, type: teams }",
        "    - { name: pager2, type: pagerduty }",
        "  link:",
        "    presignExpiryS: 700000",
        "    consoleUrlTemplate: 'https://console.example/{cluster}/{podName}'",
        "",
      ].join("\n"),
    );
    const result = await podmortem("config", "set", "--file", file);
    expect(result.code).toBe(3);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    for (const field of [
      "notifications.sinks[0].routingKey: must be a PagerDuty integration key",
      "notifications.sinks[1].url: give exactly one of url or urlSecretRef",
      "notifications.sinks[2].routingKey: a pagerduty sink needs exactly one of routingKey or routingKeySecretRef",
      "notifications.link.presignExpiryS:",
      "notifications.link.consoleUrlTemplate: unknown placeholder {podName}",
    ])
      expect(result.stderr).toContain(field);
    expect(result.stderr).not.toContain("not-a-key");
    expect((await cluster$().showConfig()).version).toBe(before);
  });

  it("refuses a billion-laughs document as bad input in one sentence, well under a second", async () => {
    const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let level = 1; level <= 9; level++)
      lines.push(
        `a${level}: &a${level} [${Array(9)
          .fill(`*a${level - 1}`)
          .join(",")}]`,
      );
    const file = path.join(dir, "bomb.yaml");
    await writeFile(file, `${lines.join("\n")}\n`);
    const result = await podmortem("config", "set", "--file", file);
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(
      `podmortem config: ${file} uses more than 64 aliases (*name); a config document needs few or none\n`,
    );
    // The whole CLI process, Node's start included (the refusal itself takes ~5 ms in-process).
    expect(result.ms).toBeLessThan(5_000);
    expect((await cluster$().showConfig()).version).toBe(0);
  });

  it("never calls a Secret-referenced loopback URL or follows a redirect, while the allowed receiver gets the same capture's notification", async () => {
    await setConfig(restate, CLUSTER, {
      capture: { steps: { snapshots: false, forensicPod: false } },
      notifications: {
        allowedDestinations: [receiverHost],
        sinks: [
          {
            name: "sneaky",
            type: "webhook",
            urlSecretRef: { name: "sneaky", key: "url" },
            events: ["captured", "failed"],
          },
          {
            name: "redirector",
            type: "webhook",
            url: `http://${receiverHost}/redirect`,
            events: ["captured", "failed"],
          },
          {
            name: "barrier",
            type: "webhook",
            url: `http://${receiverHost}/hook`,
            events: ["captured", "failed"],
          },
        ],
      },
    });
    const link = createRestateLink({
      ingressUrl: restate.ingressUrl,
      authToken: undefined,
      requestTimeoutMs: 5000,
    });
    await link.sendBatch([await crashedPod("victim-1")]);

    // The barrier: the allowed sink got the capture's notification, the redirect was answered,
    // and both refusals are in the audit log (final: a retried delivery would take 10 minutes).
    const payload = await eventually(async () => {
      const hook = received.find((r) => r.path === "/hook");
      expect(hook).toBeDefined();
      return JSON.parse(hook!.body) as { captureId: string; event: string };
    }, 60_000);
    expect(payload.event).toBe("captured");
    const failed = await eventually(async () => {
      const entries = await auditEntries("notification.failed");
      expect(entries.map((e) => (e.detail as { sink: string }).sink).sort()).toEqual([
        "redirector",
        "sneaky",
      ]);
      return entries;
    }, 60_000);
    expect(received.filter((r) => r.path === "/redirect")).toHaveLength(1);
    const result = (sink: string) =>
      (
        failed.find((e) => (e.detail as { sink: string }).sink === sink)!.detail as {
          result: string;
        }
      ).result;
    expect(result("sneaky")).toBe(
      "sink sneaky: its URL points to a loopback address, which podmortem does not call unless notifications.allowedDestinations names it",
    );
    expect(result("redirector")).toBe(
      "sink redirector answered 302, a redirect: podmortem does not follow redirects",
    );
    expect(failed.every((e) => e.captureId === payload.captureId)).toBe(true);
    expect(trapped).toEqual([]);
    const audit = await restate.query<{ value_utf8: string }>(
      `SELECT value_utf8 FROM state WHERE service_name = 'AuditLog'`,
    );
    expect(audit.map((row) => row.value_utf8).join("")).not.toContain(trapUrl);
  });
});

describe("export after Restate's retention", () => {
  it("verifies evidence from the audit log once the capture's workflow is purged, and still catches a tampered file", async () => {
    const capture = await eventually(async () => {
      const hook = received.find((r) => r.path === "/hook");
      expect(hook).toBeDefined();
      return JSON.parse(hook!.body) as { captureId: string; evidenceUri: string };
    }, 10_000);
    const workflow = clients
      .connect({ url: restate.ingressUrl })
      .workflowClient<CaptureWorkflow>({ name: "Capture" }, capture.captureId);
    const live = await podmortem("export", capture.captureId, "--out", path.join(dir, "live"));
    expect(live.code, live.stderr).toBe(0);
    expect(live.stdout).toContain("all hashes verified against the capture's status in Restate");

    // What the workflow retention does after a day: the invocation and its state are gone.
    const invocations = await restate.query<{ id: string }>(
      `SELECT id FROM sys_invocation WHERE target_service_name = 'Capture' AND target_service_key = '${capture.captureId}'`,
    );
    expect(invocations.length).toBeGreaterThan(0);
    for (const { id } of invocations) {
      const answer = await fetch(`${restate.adminUrl}/invocations/${id}/purge`, {
        method: "PATCH",
      });
      expect(answer.ok, await answer.text()).toBe(true);
    }
    await eventually(async () => expect(await workflow.status()).toBeNull(), 20_000);

    const out = path.join(dir, "after-retention");
    const kept = await podmortem("export", capture.captureId, "--out", out);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toMatch(
      /all hashes verified against audit log entry \d+ \(capture\.finished\)/,
    );
    expect(kept.stdout).toMatch(/crash\.log\s+\d+\s+[0-9a-f]{64}\s+ok/);

    const folderKey = new URL(capture.evidenceUri).pathname.slice(1).replace(/custody\.json$/, "");
    await s3.client().send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `${folderKey}crash.log`,
        Body: "nothing to see here\n",
      }),
    );
    const tampered = await podmortem(
      "export",
      capture.captureId,
      "--out",
      path.join(dir, "tampered"),
    );
    expect(tampered.code).toBe(5);
    expect(tampered.stdout).toContain("MISMATCH crash.log");
    expect(tampered.stdout).toContain("EVIDENCE DOES NOT MATCH ITS CHAIN OF CUSTODY");

    // Someone with the bucket and Restate's admin API rewrites custody.json to bless the new
    // crash.log and the audit entry to bless the new custody.json: the entry no longer holds.
    const custody = JSON.parse(
      (await s3.getObjectBytes(`${folderKey}custody.json`)).toString("utf8"),
    ) as { artifacts: Array<{ name: string; sha256: string; size: number }> };
    const forged = custody.artifacts.find((a) => a.name === "crash.log")!;
    forged.sha256 = createHash("sha256").update("nothing to see here\n").digest("hex");
    forged.size = "nothing to see here\n".length;
    const forgedText = `${JSON.stringify(custody, null, 2)}\n`;
    await s3.client().send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `${folderKey}custody.json`,
        Body: forgedText,
      }),
    );
    const rows = await restate.query<{ key: string; value_utf8: string }>(
      `SELECT key, value_utf8 FROM state WHERE service_name = 'AuditLog' AND service_key = '${CLUSTER}'`,
    );
    const state = Object.fromEntries(
      rows.map((row) => {
        const entry = JSON.parse(row.value_utf8) as AuditEntry;
        if (entry.kind === "capture.finished" && entry.captureId === capture.captureId)
          (entry.detail as { custody: { sha256: string } }).custody.sha256 = createHash("sha256")
            .update(forgedText)
            .digest("hex");
        return [row.key, [...Buffer.from(JSON.stringify(entry))]];
      }),
    );
    const rewrite = await fetch(`${restate.adminUrl}/services/AuditLog/state`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ object_key: CLUSTER, new_state: state }),
    });
    expect(rewrite.ok, await rewrite.text()).toBe(true);
    const forgedExport = await podmortem(
      "export",
      capture.captureId,
      "--out",
      path.join(dir, "forged"),
    );
    expect(forgedExport.code).toBe(5);
    expect(forgedExport.stderr).toMatch(
      /the audit log this export would trust does not hold: audit entry \d+ was modified: its content does not match its hash/,
    );
  });
});
