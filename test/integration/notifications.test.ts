import { CoreV1Api } from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { verifyBody } from "../../src/notifications/hmac.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { makePodEvent } from "../fixtures/pod-events.ts";
import { eventually } from "../harness/eventually.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { enroll, setConfig } from "./watcher-helpers.ts";

const CLUSTER = "notify";
const HMAC = "a-long-shared-hmac-secret";
let cluster: KubeCluster;
let restate: RestateHarness;
let receiver: Server;
let receiverUrl: string;
type Received = {
  path: string;
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
};
const received: Received[] = [];
let webhookFailuresLeft = 3;
let slackReleased = false;
/** Slack requests held open until the test lets them answer: a sink that hangs. */
const heldSlack: Array<() => void> = [];

const text = z.object({
  type: z.enum(["plain_text", "mrkdwn"]),
  text: z.string().min(1).max(3000),
});
const blockKit = z.object({
  text: z.string().min(1),
  blocks: z
    .array(
      z.discriminatedUnion("type", [
        z.object({
          type: z.literal("header"),
          text: text.extend({ type: z.literal("plain_text"), emoji: z.boolean().optional() }),
        }),
        z.object({ type: z.literal("section"), text, fields: z.array(text).max(10).optional() }),
        z.object({ type: z.literal("context"), elements: z.array(text).min(1).max(10) }),
        z.object({ type: z.literal("divider") }),
      ]),
    )
    .min(1)
    .max(50),
});

beforeAll(async () => {
  receiver = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      if (request.url === "/slack" && heldSlack.length === 0 && !slackReleased) {
        heldSlack.push(() => {
          received.push({ path: "/slack", status: 200, body, headers: request.headers });
          response.writeHead(200).end("ok");
        });
        return;
      }
      const failing = request.url === "/webhook" && webhookFailuresLeft-- > 0;
      const status = failing ? 503 : 200;
      received.push({ path: request.url ?? "", status, body, headers: request.headers });
      response.writeHead(status).end(failing ? "down for maintenance" : "ok");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", () => resolve()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  cluster = await startKubeCluster();
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: "podmortem" } } });
  await core.createNamespacedSecret({
    namespace: "podmortem",
    body: { metadata: { name: "slack" }, stringData: { url: `${receiverUrl}/slack` } },
  });
  restate = await startRestate({
    services: createServices({
      kube: createKubeAccess(cluster.kubeConfig()),
      store: createDirStore(await mkdtemp(path.join(os.tmpdir(), "podmortem-notify-"))),
      metrics: createWorkflowMetrics(),
      evidencePrefix: undefined,
      identity: "test",
      version: "test",
      secretsKey: randomBytes(32),
    }),
  });
  await enroll(restate, CLUSTER);
  await setConfig(restate, CLUSTER, {
    capture: { steps: { snapshots: false, forensicPod: false } },
    notifications: {
      // The receiver is on loopback: only an allow-list entry lets podmortem call it.
      allowedDestinations: [new URL(receiverUrl).host],
      sinks: [
        {
          name: "ops-webhook",
          type: "webhook",
          url: `${receiverUrl}/webhook`,
          hmacSecret: HMAC,
          events: ["captured", "failed"],
        },
        {
          name: "team-slack",
          type: "slack",
          urlSecretRef: { name: "slack", key: "url" },
          events: ["detected"],
          rateLimitS: 3600,
        },
        {
          name: "gone",
          type: "webhook",
          urlSecretRef: { name: "no-such-secret", key: "url" },
          events: ["captured"],
        },
      ],
    },
  });
}, 120_000);

afterAll(async () => {
  await restate?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  receiver?.close();
});

describe("notifications", () => {
  it("reach a webhook that was down exactly once, signed, and Slack in Block Kit, rate-limited per signature", async () => {
    const link = createRestateLink({
      ingressUrl: restate.ingressUrl,
      authToken: undefined,
      requestTimeoutMs: 5000,
    });
    const first = makePodEvent({
      cluster: CLUSTER,
      namespace: "shop",
      pod: "checkout-1",
      podUID: "n1",
    });
    await link.sendBatch([first]);

    // Slack hangs on the "detected" message; the capture goes on and finishes regardless.
    await eventually(async () => expect(heldSlack).toHaveLength(1), 30_000);
    await eventually(async () => {
      const rows = await restate.query<{ value_utf8: string }>(
        `SELECT value_utf8 FROM state WHERE service_name = 'AuditLog' AND service_key = '${CLUSTER}' AND value_utf8 LIKE '%"kind":"capture.finished"%'`,
      );
      expect(rows).toHaveLength(1);
    }, 30_000);
    expect(received.filter((r) => r.path === "/slack")).toHaveLength(0);
    slackReleased = true;
    heldSlack[0]!();

    const webhook = await eventually(async () => {
      const accepted = received.filter((r) => r.path === "/webhook" && r.status === 200);
      expect(accepted).toHaveLength(1);
      return accepted[0]!;
    }, 60_000);
    expect(received.filter((r) => r.path === "/webhook" && r.status === 503)).toHaveLength(3);
    const payload = JSON.parse(webhook.body) as Record<string, unknown>;
    expect(payload).toMatchObject({
      event: "captured",
      cluster: CLUSTER,
      namespace: "shop",
      pod: "checkout-1",
      container: "app",
      reason: "Error",
      exitCode: 1,
      workload: { kind: "Deployment", name: "checkout" },
      captureId: expect.stringMatching(/^pm-/),
      occurrences: 1,
      evidenceUri: expect.stringContaining("custody.json"),
      headline: expect.stringMatching(/^app in shop\/checkout-1: /),
      topFinding: expect.any(String),
    });
    expect(
      verifyBody(
        HMAC,
        String(webhook.headers["x-podmortem-timestamp"]),
        webhook.body,
        String(webhook.headers["x-podmortem-signature"]),
      ),
    ).toBe(true);

    const slack = await eventually(async () => {
      const posts = received.filter((r) => r.path === "/slack");
      expect(posts).toHaveLength(1);
      return posts[0]!;
    }, 30_000);
    const message = blockKit.parse(JSON.parse(slack.body));
    expect(message.text).toContain("shop/checkout-1");

    // Another occurrence of the same failure within the sink's rate limit: no second message.
    // The barrier: the Slack sink's Notifier records each delivery it decides on (activeAtMs);
    // once it has decided on the second one, no second message may have been posted.
    const slackActiveAt = async () => {
      const rows = await restate.query<{ value_utf8: string }>(
        `SELECT value_utf8 FROM state WHERE service_name = 'Notifier' AND service_key = '${CLUSTER}:team-slack:${first.signature}' AND key = 'activeAtMs'`,
      );
      return rows[0] ? Number(rows[0].value_utf8) : 0;
    };
    const firstDecidedAt = await eventually(async () => {
      const at = await slackActiveAt();
      expect(at).toBeGreaterThan(0);
      return at;
    }, 20_000);
    await link.sendBatch([
      makePodEvent({ cluster: CLUSTER, namespace: "shop", pod: "checkout-2", podUID: "n2" }),
    ]);
    await eventually(
      async () => expect(await slackActiveAt()).toBeGreaterThan(firstDecidedAt),
      20_000,
    );
    expect(received.filter((r) => r.path === "/slack")).toHaveLength(1);

    const audit = await restate.query<{ value_utf8: string }>(
      `SELECT value_utf8 FROM state WHERE service_name = 'AuditLog' AND value_utf8 LIKE '%notification.delivered%'`,
    );
    expect(audit.length).toBeGreaterThanOrEqual(2);
    expect(audit.map((row) => row.value_utf8).join("")).not.toContain(receiverUrl);

    // A sink whose Secret does not exist fails at once, recorded, instead of retrying for minutes.
    const failed = await eventually(async () => {
      const rows = await restate.query<{ value_utf8: string }>(
        `SELECT value_utf8 FROM state WHERE service_name = 'AuditLog' AND value_utf8 LIKE '%notification.failed%'`,
      );
      expect(rows).toHaveLength(1);
      return JSON.parse(rows[0]!.value_utf8) as { detail: { sink: string; result: string } };
    }, 20_000);
    expect(failed.detail.sink).toBe("gone");
    expect(failed.detail.result).toContain("no-such-secret");
  });

  it("keeps retrying a delivery across a restart of the workflows endpoint and of restate-server, and delivers it once", async () => {
    const link = createRestateLink({
      ingressUrl: restate.ingressUrl,
      authToken: undefined,
      requestTimeoutMs: 5000,
    });
    webhookFailuresLeft = 1_000_000;
    const event = makePodEvent({
      cluster: CLUSTER,
      namespace: "billing",
      pod: "invoice-1",
      podUID: "r1",
      workload: { kind: "Deployment", name: "invoice" },
    });
    const forThisPod = (r: Received) => r.path === "/webhook" && r.body.includes('"invoice-1"');
    await link.sendBatch([event]);
    await eventually(
      async () => expect(received.filter(forThisPod).length).toBeGreaterThan(0),
      60_000,
    );

    await restate.stopEndpoint();
    await restate.restartServer();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await restate.startEndpoint();
    webhookFailuresLeft = 0;

    await eventually(async () => {
      expect(received.filter((r) => forThisPod(r) && r.status === 200)).toHaveLength(1);
    }, 90_000);
    // The barrier: the delivery's audit entry is written after its POST step is journaled, so
    // once it is there no retry of that step can post again.
    await eventually(async () => {
      const rows = await restate.query<{ value_utf8: string }>(
        `SELECT value_utf8 FROM state WHERE service_name = 'AuditLog' AND value_utf8 LIKE '%notification.delivered%' AND value_utf8 LIKE '%invoice-1%' AND value_utf8 LIKE '%ops-webhook%'`,
      );
      expect(rows).toHaveLength(1);
    }, 30_000);
    const accepted = received.filter((r) => forThisPod(r) && r.status === 200);
    expect(accepted).toHaveLength(1);
    const attempts = received.filter(forThisPod);
    expect(new Set(attempts.map((r) => r.headers["x-podmortem-delivery"])).size).toBe(1);
  });
});
