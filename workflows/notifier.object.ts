import type { V1Secret } from "@kubernetes/client-node";
import * as restate from "@restatedev/restate-sdk";

import type { KubeAccess } from "../src/k8s/kube-access.ts";
import { classifyKubeError, describeKubeError, kubeStatusOf } from "../src/k8s/kube-errors.ts";
import type { SecretRef } from "../src/model/remote-config.ts";
import type { SecretSource } from "../src/notifications/delivery-sink.ts";
import type { EvidenceStore } from "../src/evidence/evidence-store.ts";
import { describePagerDutyRefusal } from "../src/notifications/pagerduty.ts";
import type { NotificationPayload } from "../src/notifications/payload.ts";
import { readPostmortemDigest } from "../src/notifications/postmortem-digest.ts";
import { renderMessage } from "../src/notifications/render-message.ts";
import { postToSink, SinkError } from "../src/notifications/webhook.ts";
import { appendToAudit } from "./audit-inbox.object.ts";
import type { WorkflowMetrics } from "./metrics.ts";
import type { ClusterObject } from "./cluster.object.ts";
import { idleLimitMs } from "./idle-state.ts";
import type { Sealer } from "../src/notifications/sealed-secret.ts";

export type DeliverRequest = { sink: string; payload: NotificationPayload };
export type DeliverAnswer = {
  outcome: "delivered" | "rate-limited" | "failed" | "no-such-sink";
  detail: string;
};

const ACTIVE_AT_KEY = "activeAtMs";
const IDLE_CHECK_KEY = "idleCheckAtMs";

export function notifierKey(cluster: string, sink: string, signature: string): string {
  return `${cluster}:${sink}:${signature}`;
}

async function readSecretValue(
  kube: KubeAccess,
  ref: SecretRef,
  defaultNamespace: string,
): Promise<string> {
  const namespace = ref.namespace ?? defaultNamespace;
  let secret: V1Secret;
  try {
    secret = await kube.core.readNamespacedSecret({ name: ref.name, namespace });
  } catch (error) {
    // A missing Secret or a refused read will not heal by retrying for ten minutes.
    if (classifyKubeError(error) === "terminal")
      throw new restate.TerminalError(
        `secret ${namespace}/${ref.name}: ${describeKubeError(error)}`,
        { errorCode: kubeStatusOf(error) ?? 500 },
      );
    throw error;
  }
  const value = secret.data?.[ref.key];
  if (value === undefined)
    throw new restate.TerminalError(`secret ${namespace}/${ref.name} has no key ${ref.key}`, {
      errorCode: 404,
    });
  return Buffer.from(value, "base64").toString("utf8");
}

/**
 * One sink, one signature: the per-signature rate limit lives in this object's state, and each
 * delivery is a durable step retried with backoff for a bounded time. Every secret (a sealed
 * inline value or a Secret reference) is opened inside the step, which returns only the HTTP
 * status: no secret value is written to a journal. The same holds for what the step reads to
 * write the message: the report's log tail and the presigned link to report.md (a bearer link,
 * so it is made fresh in each attempt rather than journaled).
 */
export function createNotifierObject(deps: {
  kube: KubeAccess;
  secretsNamespace: string;
  metrics: WorkflowMetrics;
  sealer?: Sealer | undefined;
  /** Where the report is read and presigned; without it messages go without them. */
  store?: EvidenceStore | undefined;
}) {
  const openSecret = async (source: SecretSource): Promise<string> => {
    if ("plain" in source) return source.plain;
    if ("ref" in source) return readSecretValue(deps.kube, source.ref, deps.secretsNamespace);
    if (!deps.sealer)
      throw new restate.TerminalError(
        "an inline sink secret needs PODMORTEM_SECRETS_KEY on the workflows",
        { errorCode: 500 },
      );
    try {
      return deps.sealer.open(source.sealed);
    } catch (error) {
      throw new restate.TerminalError((error as Error).message, { errorCode: 500 });
    }
  };

  return restate.object({
    name: "Notifier",
    handlers: {
      deliver: async (
        ctx: restate.ObjectContext,
        request: DeliverRequest,
      ): Promise<DeliverAnswer> => {
        const { payload } = request;
        const nowMs = await ctx.date.now();
        const { sink, allowedDestinations, forgetAfterIdleWindows, link } = await ctx
          .objectClient<ClusterObject>({ name: "Cluster" }, payload.cluster)
          .deliverySink(request.sink);
        ctx.set(ACTIVE_AT_KEY, nowMs);
        if ((await ctx.get<number>(IDLE_CHECK_KEY)) === null) {
          const idleMs = idleLimitMs(sink?.rateLimitS ?? 0, forgetAfterIdleWindows);
          ctx.set(IDLE_CHECK_KEY, nowMs + idleMs);
          ctx
            .objectSendClient<NotifierObject>({ name: "Notifier" }, ctx.key)
            .forgetIfIdle({ idleMs }, restate.rpc.sendOpts({ delay: { milliseconds: idleMs } }));
        }
        if (!sink)
          return {
            outcome: "no-such-sink",
            detail: `no sink ${request.sink} in the config any more`,
          };
        const lastKey = `last:${payload.event}`;
        const last = await ctx.get<number>(lastKey);
        if (last !== null && nowMs - last < sink.rateLimitS * 1000) {
          return {
            outcome: "rate-limited",
            detail: `last ${payload.event} notification ${Math.round((nowMs - last) / 1000)} s ago`,
          };
        }
        const deliveryId = `${ctx.key}:${payload.event}:${nowMs}`;
        let answer: DeliverAnswer;
        try {
          const status = await ctx.run(
            `post to ${sink.name}`,
            async () => {
              const url = await openSecret(sink.url);
              const hmacSecret = sink.hmacSecret ? await openSecret(sink.hmacSecret) : undefined;
              const routingKey = sink.routingKey ? await openSecret(sink.routingKey) : undefined;
              if (sink.type === "pagerduty" && !routingKey)
                throw new restate.TerminalError(`sink ${sink.name}: no routing key`, {
                  errorCode: 400,
                });
              const digest = await readPostmortemDigest(deps.store, payload, link);
              const body = renderMessage(sink.type, payload, digest, routingKey);
              try {
                return await postToSink({
                  sink: sink.name,
                  url,
                  body,
                  hmacSecret,
                  allowedDestinations,
                  nowS: Date.now() / 1000,
                  headers: {
                    "x-podmortem-delivery": deliveryId,
                    "x-podmortem-event": payload.event,
                  },
                  describeRefusal:
                    sink.type === "pagerduty" && routingKey
                      ? (text) => describePagerDutyRefusal(text, routingKey)
                      : undefined,
                });
              } catch (error) {
                if (error instanceof SinkError && error.final)
                  throw new restate.TerminalError(error.message, {
                    errorCode: error.status ?? 400,
                  });
                // 429: the sink said when; Restate waits that long before the next attempt.
                if (error instanceof SinkError && error.retryAfterS !== undefined)
                  throw restate.RetryableError.from(error, {
                    retryAfter: { seconds: error.retryAfterS },
                  });
                throw error;
              }
            },
            {
              maxRetryDuration: { minutes: 10 },
              initialRetryInterval: { seconds: 1 },
              maxRetryInterval: { seconds: 30 },
              retryIntervalFactor: 2,
            },
          );
          ctx.set(lastKey, nowMs);
          answer = { outcome: "delivered", detail: `HTTP ${status}` };
        } catch (error) {
          if (!(error instanceof restate.TerminalError)) throw error;
          answer = { outcome: "failed", detail: error.message };
        }
        const outcome = answer.outcome;
        // Counted inside a step: a replay of this handler does not count again.
        await ctx.run("count delivery", () => deps.metrics.notifications.inc({ outcome }));
        appendToAudit(ctx, {
          kind: answer.outcome === "delivered" ? "notification.delivered" : "notification.failed",
          cluster: payload.cluster,
          namespace: payload.namespace,
          pod: payload.pod,
          signature: payload.signature,
          captureId: payload.captureId,
          detail: { sink: sink.name, event: payload.event, deliveryId, result: answer.detail },
        });
        return answer;
      },

      /** The delayed self-call: forgets a sink's rate-limit state idle for `idleMs`. */
      forgetIfIdle: async (
        ctx: restate.ObjectContext,
        request: { idleMs: number },
      ): Promise<boolean> => {
        const activeAtMs = await ctx.get<number>(ACTIVE_AT_KEY);
        const nowMs = await ctx.date.now();
        const idleUntilMs = (activeAtMs ?? 0) + request.idleMs;
        if (nowMs >= idleUntilMs) {
          ctx.clearAll();
          return true;
        }
        ctx.set(IDLE_CHECK_KEY, idleUntilMs);
        ctx
          .objectSendClient<NotifierObject>({ name: "Notifier" }, ctx.key)
          .forgetIfIdle(
            request,
            restate.rpc.sendOpts({ delay: { milliseconds: idleUntilMs - nowMs } }),
          );
        return false;
      },
    },
    // Only Notifications sends here: from outside, a delivery could be forged at will.
    options: { ingressPrivate: true },
  });
}

export type NotifierObject = ReturnType<typeof createNotifierObject>;
