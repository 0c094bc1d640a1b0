import {
  PAGERDUTY_EVENTS_URL,
  type NotificationSink,
  type SecretRef,
} from "../model/remote-config.ts";
import type { Sealer } from "./sealed-secret.ts";

/**
 * Where a value of a sink comes from: sealed inline (ciphertext), a Kubernetes Secret, or in the
 * clear when it is no secret (PagerDuty's public endpoint).
 */
export type SecretSource = { sealed: string } | { ref: SecretRef } | { plain: string };

/**
 * A sink as the Notifier needs it: everything but secret values. It is journaled as the answer
 * of `Cluster.deliverySink`, so its inline secrets travel sealed and are opened in the step.
 */
export type DeliverySink = Pick<NotificationSink, "name" | "type" | "events" | "rateLimitS"> & {
  url: SecretSource;
  hmacSecret: SecretSource | null;
  /** PagerDuty's routing key; null for the other sink types. */
  routingKey: SecretSource | null;
};

/**
 * A record stored before sealing existed may still hold a plain inline value: it is sealed here,
 * so it never leaves the Cluster object in the clear (the next `config set` seals it at rest).
 */
export function toDeliverySink(sink: NotificationSink, sealer: Sealer | undefined): DeliverySink {
  const source = (
    inline: string | undefined,
    ref: SecretRef | undefined,
    seal: ((plain: string) => string) | undefined,
  ): SecretSource | null => {
    if (inline !== undefined) return { sealed: seal ? seal(inline) : inline };
    return ref ? { ref } : null;
  };
  const url = source(sink.url, sink.urlSecretRef, sealer?.sealUrl);
  return {
    name: sink.name,
    type: sink.type,
    events: sink.events,
    rateLimitS: sink.rateLimitS,
    url: url ?? (sink.type === "pagerduty" ? { plain: PAGERDUTY_EVENTS_URL } : { sealed: "" }),
    hmacSecret: source(sink.hmacSecret, sink.hmacSecretRef, sealer?.sealText),
    routingKey: source(sink.routingKey, sink.routingKeySecretRef, sealer?.sealText),
  };
}
