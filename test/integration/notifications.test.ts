import { AppsV1Api, CoreV1Api, type V1PodTemplateSpec } from "@kubernetes/client-node";
import { Ajv } from "ajv";
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { custodySchema } from "../../src/evidence/custody.ts";
import { createS3Client, createS3Store } from "../../src/evidence/s3-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { verifyBody } from "../../src/notifications/hmac.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { lastTerminationOf, makePodEvent } from "../fixtures/pod-events.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { startS3, type S3Harness } from "../harness/s3-server.ts";
import { enroll, setConfig } from "./watcher-helpers.ts";

const CLUSTER = "notify";
const HMAC = "a-long-shared-hmac-secret";
/** The postmortem test's pod: its own namespace, so the earlier tests' sinks never see it. */
const PM_NS = "pay";
const PM_POD = "pay-r2-abcde";
const ROUTING_KEY = `R${randomBytes(16).toString("hex").slice(0, 31)}`;
const TEAMS_PATH = `teams-${randomBytes(12).toString("hex")}`;
const FIXTURES = path.resolve(import.meta.dirname, "..", "fixtures");
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let s3: S3Harness;
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
/** What PagerDuty answered the postmortem pod's page: a 429 first, then 202. */
const pagerDutyAnswers: number[] = [];

/**
 * PagerDuty's Events API as documented: 202 with a JSON status; 429 asks for a retry later; 400
 * names what it refused. `/pagerduty-bad` refuses the postmortem pod's event as invalid.
 */
function answerAsPagerDuty(url: string, body: string): [number, Record<string, string>, string] {
  const ours = body.includes(`"${PM_POD}`) || body.includes(`/${PM_POD}`);
  if (url === "/pagerduty-bad" && ours)
    return [
      400,
      { "content-type": "application/json" },
      JSON.stringify({
        status: "invalid event",
        message: "Event object is invalid",
        errors: ["'payload.severity' is invalid (must be one of: critical, error, warning, info)"],
      }),
    ];
  if (url === "/pagerduty" && ours && pagerDutyAnswers.length === 0) {
    pagerDutyAnswers.push(429);
    return [429, { "retry-after": "1" }, ""];
  }
  if (url === "/pagerduty" && ours) pagerDutyAnswers.push(202);
  return [
    202,
    { "content-type": "application/json" },
    JSON.stringify({ status: "success", message: "Event processed", dedup_key: "x" }),
  ];
}

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
        z.object({
          type: z.literal("actions"),
          elements: z
            .array(
              z.strictObject({
                type: z.literal("button"),
                action_id: z.string().max(255),
                text: text.extend({ type: z.literal("plain_text"), text: z.string().max(75) }),
                url: z.url().max(3000),
              }),
            )
            .min(1)
            .max(25),
        }),
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
      if (request.url?.startsWith("/pagerduty")) {
        const [status, headers, answer] = answerAsPagerDuty(request.url, body);
        received.push({ path: request.url, status, body, headers: request.headers });
        response.writeHead(status, headers).end(answer);
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
  [cluster, s3] = await Promise.all([startKubeCluster(), startS3()]);
  kubelet = await startFakeKubelet(cluster, { nodes: ["node-a"], restartIntervalMs: 60_000 });
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ["podmortem", PM_NS])
    await core.createNamespace({ body: { metadata: { name } } });
  await core.createNamespacedSecret({
    namespace: "podmortem",
    body: { metadata: { name: "slack" }, stringData: { url: `${receiverUrl}/slack` } },
  });
  restate = await startRestate({
    services: createServices({
      kube: createKubeAccess(cluster.kubeConfig()),
      store: createS3Store({
        client: createS3Client({
          endpoint: s3.endpoint,
          region: s3.region,
          forcePathStyle: true,
          credentials: s3.credentials,
        }),
        bucket: s3.bucket,
      }),
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
        // The postmortem sinks: every type, each carrying the answer, the log's end and a link.
        { name: "pm-slack", type: "slack", url: `${receiverUrl}/pm-slack`, events: ["captured"] },
        {
          name: "pm-teams",
          type: "teams",
          url: `${receiverUrl}/${TEAMS_PATH}`,
          events: ["captured"],
        },
        {
          name: "pm-pager",
          type: "pagerduty",
          url: `${receiverUrl}/pagerduty`,
          routingKey: ROUTING_KEY,
          events: ["captured"],
        },
        {
          name: "pm-pager-bad",
          type: "pagerduty",
          url: `${receiverUrl}/pagerduty-bad`,
          routingKey: ROUTING_KEY,
          events: ["captured"],
        },
      ],
      link: {
        presignExpiryS: 600,
        consoleUrlTemplate:
          "https://console.example/{cluster}/{namespace}/{pod}?capture={captureId}",
      },
    },
  });
}, 120_000);

afterAll(async () => {
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await s3?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  receiver?.close();
});

/** Every string a Restate row holds, with hex, base64 and JSON decoded: what a scan must see. */
function searchable(value: unknown): string {
  if (typeof value === "string") {
    const decoded = [value];
    if (/^([0-9a-f]{2})+$/.test(value)) decoded.push(Buffer.from(value, "hex").toString("latin1"));
    if (/^[A-Za-z0-9+/=_-]{16,}$/.test(value))
      decoded.push(Buffer.from(value, "base64").toString("latin1"));
    return decoded.join("\n");
  }
  if (Array.isArray(value)) return value.map(searchable).join("\n");
  if (value !== null && typeof value === "object")
    return Object.values(value as Record<string, unknown>)
      .map(searchable)
      .join("\n");
  return String(value);
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const amzDate = (at: Date) =>
  at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");

/** A Deployment at revision 2 (image pay:1.2 → pay:1.3) whose pod crashes with this log. */
async function crashPostmortemPod(log: string) {
  const kc = cluster.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const template = (image: string): V1PodTemplateSpec => ({
    metadata: { labels: { app: "pay" } },
    spec: { containers: [{ name: "app", image }] },
  });
  const owner = (kind: string, name: string, uid: string) => [
    { apiVersion: "apps/v1", kind, name, uid, controller: true },
  ];
  const deployment = await apps.createNamespacedDeployment({
    namespace: PM_NS,
    body: {
      metadata: { name: "pay" },
      spec: { selector: { matchLabels: { app: "pay" } }, template: template("shop/pay:1.3") },
    },
  });
  let current = "";
  for (const [revision, image] of [
    [1, "shop/pay:1.2"],
    [2, "shop/pay:1.3"],
  ] as const) {
    const replicaSet = await apps.createNamespacedReplicaSet({
      namespace: PM_NS,
      body: {
        metadata: {
          name: `pay-r${revision}`,
          annotations: { "deployment.kubernetes.io/revision": String(revision) },
          ownerReferences: owner("Deployment", "pay", deployment.metadata!.uid!),
        },
        spec: { replicas: 0, selector: { matchLabels: { app: "pay" } }, template: template(image) },
      },
    });
    current = replicaSet.metadata!.uid!;
  }
  await core.createNamespacedPod({
    namespace: PM_NS,
    body: {
      metadata: {
        name: PM_POD,
        labels: { app: "pay" },
        annotations: { "fake-kubelet/scenario": "healthy" },
        ownerReferences: owner("ReplicaSet", "pay-r2", current),
      },
      spec: template("shop/pay:1.3").spec!,
    },
  });
  const read = () => core.readNamespacedPod({ name: PM_POD, namespace: PM_NS });
  await eventually(async () => {
    expect((await read()).status?.containerStatuses?.[0]?.state?.running).toBeDefined();
  }, 20_000);
  kubelet.setLog(PM_NS, PM_POD, "app", { current: log });
  await kubelet.crashNow(PM_NS, PM_POD, "app", { exitCode: 1, reason: "Error" });
  const pod = await eventually(async () => {
    const found = await read();
    expect(found.status?.containerStatuses?.[0]?.lastState?.terminated).toBeDefined();
    return found;
  }, 20_000);
  return makePodEvent({
    cluster: CLUSTER,
    namespace: PM_NS,
    pod: PM_POD,
    podUID: pod.metadata!.uid!,
    node: pod.spec!.nodeName!,
    workload: { kind: "Deployment", name: "pay" },
    container: "app",
    image: "shop/pay:1.3",
    ...lastTerminationOf(pod, "app"),
  });
}

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

  it("pages PagerDuty, posts Teams an Adaptive Card, Slack Block Kit and the webhook JSON: each with the answer, what changed, the masked log's end and a report link that opens", async () => {
    const log = [
      ...Array.from({ length: 27 }, (_, i) => `starting worker ${i + 1}`),
      "connecting to db with password=hunter2",
      "retrying with header Authorization: Bearer abcdefghijklmnop0123456789",
      "panic: connection refused to db.pay.svc:5432",
      "",
    ].join("\n");
    const event = await crashPostmortemPod(log);
    const link = createRestateLink({
      ingressUrl: restate.ingressUrl,
      authToken: undefined,
      requestTimeoutMs: 5000,
    });
    await link.sendBatch([event]);
    const ours = (r: Received) => r.body.includes(PM_POD);
    const postTo = (p: string, status = 200) =>
      eventually(async () => {
        const found = received.filter((r) => r.path === p && r.status === status && ours(r));
        expect(found).toHaveLength(1);
        return JSON.parse(found[0]!.body) as Record<string, unknown>;
      }, 30_000);
    const [slackBody, teamsBody, pageBody, webhookBody] = await Promise.all([
      postTo("/pm-slack"),
      postTo(`/${TEAMS_PATH}`),
      postTo("/pagerduty", 202),
      postTo("/webhook"),
    ]);

    // The webhook says where the evidence is: custody.json seals report.md, whose hash the link must give.
    const webhook = webhookBody as {
      evidenceFolder: string;
      whatChanged: string;
      logTail: { lines: string[] };
      link: string;
      links: { report: string; console: string };
    };
    const custody = custodySchema.parse(
      JSON.parse((await s3.getObjectBytes(`${webhook.evidenceFolder}custody.json`)).toString()),
    );
    const reportMd = custody.artifacts.find((a) => a.name === "report.md")!;
    expect(reportMd).toBeDefined();

    const slack = blockKit.parse(slackBody);
    const slackText = slack.blocks.map((b) => JSON.stringify(b)).join("\n");
    const buttons = slack.blocks.flatMap((b) => (b.type === "actions" ? b.elements : []));
    const teamsCard = (teamsBody as { attachments: Array<{ content: Record<string, unknown> }> })
      .attachments[0]!.content;
    const teamsActions = teamsCard.actions as Array<{ url: string }>;
    const page = pageBody as {
      routing_key: string;
      dedup_key: string;
      payload: { severity: string; custom_details: { log_tail: string[]; what_changed: string } };
      links: Array<{ href: string }>;
    };

    const ajv = new Ajv({ allErrors: true, strict: true });
    for (const [file, body] of [
      ["adaptive-card-message.schema.json", teamsBody],
      ["pagerduty-event.schema.json", pageBody],
    ] as const) {
      const validateBody = ajv.compile(
        JSON.parse(await readFile(path.join(FIXTURES, file), "utf8")) as object,
      );
      expect({ file, valid: validateBody(body), errors: validateBody.errors ?? [] }).toEqual({
        file,
        valid: true,
        errors: [],
      });
    }
    expect(page.routing_key).toBe(ROUTING_KEY);
    expect(page.dedup_key).toBe(event.signature);
    expect(page.payload.severity).toMatch(/^(critical|error|warning|info)$/);
    // The fault happened: PagerDuty asked for a retry (429) and got the page on the next attempt.
    expect(pagerDutyAnswers).toEqual([429, 202]);

    // What changed, and the log's last 20 lines with the secrets masked, in every sink.
    const tails = [
      webhook.logTail.lines,
      page.payload.custom_details.log_tail,
      (teamsCard.body as Array<{ text?: string; fontType?: string }>)
        .filter((b) => b.fontType === "Monospace")
        .map((b) => b.text!),
    ];
    for (const tail of tails) {
      expect(tail).toHaveLength(20);
      expect(tail[0]).toBe("starting worker 11");
      expect(tail).toContain("connecting to db with password=****");
      expect(tail.find((line) => line.startsWith("retrying with header"))).toMatch(
        /^retrying with header Authorization: [* ]*\*\*\*\*$/,
      );
      expect(tail.at(-1)).toBe("panic: connection refused to db.pay.svc:5432");
    }
    expect(slackText).toContain("connecting to db with password=****");
    expect(slackText).toContain("retrying with header Authorization: ****");
    for (const body of [slackBody, teamsBody, pageBody, webhookBody]) {
      const text = JSON.stringify(body);
      expect(text).not.toContain("hunter2");
      expect(text).not.toContain("abcdefghijklmnop0123456789");
      expect(text).toMatch(/after the rollout to revision 2[^"]*image/);
    }
    expect(webhook.whatChanged).toMatch(/^The crash came .* after the rollout to revision 2/);
    expect(page.payload.custom_details.what_changed).toBe(webhook.whatChanged);

    // The link opens: each sink's presigned report.md, fetched with no credentials, is the sealed
    // file; a forged signature is refused, so the server did check it.
    const reportLinks = [webhook.link, buttons[0]!.url, teamsActions[0]!.url, page.links[0]!.href];
    for (const url of reportLinks) {
      expect(url).toMatch(/X-Amz-Signature=[0-9a-f]{64}/);
      const answer = await fetch(url);
      expect(answer.status).toBe(200);
      expect(sha256(Buffer.from(await answer.arrayBuffer()))).toBe(reportMd.sha256);
    }
    // The links are made by the AWS SDK's own presigner; s3rver does not check SigV4 signatures,
    // but it does enforce the expiry it reads.
    const stale = new URL(reportLinks[0]!);
    const elevenMinutesAgo = new Date(Date.now() - 11 * 60_000);
    stale.searchParams.set("X-Amz-Date", amzDate(elevenMinutesAgo));
    expect(stale.searchParams.get("X-Amz-Expires")).toBe("600");
    const expired = await fetch(stale);
    expect({ status: expired.status, body: await expired.text() }).toMatchObject({
      status: 403,
      body: expect.stringContaining("Request has expired"),
    });
    const consoleUrl = `https://console.example/${CLUSTER}/${PM_NS}/${PM_POD}?capture=`;
    expect(webhook.links.console.startsWith(consoleUrl)).toBe(true);
    expect(buttons[1]!.url).toBe(webhook.links.console);
    expect(teamsActions[1]!.url).toBe(webhook.links.console);

    // PagerDuty's 400 ends the delivery at once, its reason recorded, the key nowhere in it.
    const refused = await eventually(async () => {
      const rows = await restate.query<{ value_utf8: string }>(
        `SELECT value_utf8 FROM state WHERE service_name = 'AuditLog' AND value_utf8 LIKE '%notification.failed%' AND value_utf8 LIKE '%pm-pager-bad%'`,
      );
      expect(rows).toHaveLength(1);
      return JSON.parse(rows[0]!.value_utf8) as { detail: { result: string } };
    }, 20_000);
    expect(refused.detail.result).toBe(
      "sink pm-pager-bad answered 400: Event object is invalid; 'payload.severity' is invalid (must be one of: critical, error, warning, info)",
    );
    expect(received.filter((r) => r.path === "/pagerduty-bad" && ours(r))).toHaveLength(1);

    // Neither the routing key, the Teams URL nor any presigned link is in Restate's tables or log.
    const scanned: string[] = [];
    for (const table of ["sys_journal", "state", "sys_invocation"]) {
      const text = (await restate.query(`SELECT * FROM ${table}`)).map(searchable).join("\n");
      // The scan sees inside journal entries: the sealed routing key the Notifier was answered.
      if (table === "sys_journal") expect(text).toContain("sealed:v1:");
      scanned.push(text);
    }
    // restate-server's log holds every failed attempt's message (the 429, the 400): none names them.
    const serverLog = await readFile(restate.logFile, "utf8");
    expect(serverLog).toContain("pm-pager answered 429");
    scanned.push(serverLog);
    const everything = scanned.join("\n");
    const signatures = reportLinks.map((url) => new URL(url).searchParams.get("X-Amz-Signature")!);
    for (const value of [ROUTING_KEY, TEAMS_PATH, ...signatures])
      expect(everything.includes(value), value.slice(0, 8)).toBe(false);
  });
});
