import type { SinkType } from "../model/remote-config.ts";
import type { NotificationPayload } from "./payload.ts";
import { toPagerDutyEvent } from "./pagerduty.ts";
import { primaryLink, type PostmortemDigest } from "./postmortem-digest.ts";
import { toSlackMessage } from "./slack.ts";
import { toTeamsMessage } from "./teams.ts";

/** The generic webhook's JSON: the payload as it always was, plus the postmortem's parts. */
export function toWebhookBody(payload: NotificationPayload, digest: PostmortemDigest) {
  return {
    ...payload,
    headline: digest.headline,
    finding: digest.top,
    whatChanged: digest.whatChanged,
    logTail: digest.logTail,
    link: primaryLink(digest),
    links: digest.links,
  };
}

/** The request body a sink of this type is sent; `routingKey` only for PagerDuty. */
export function renderMessage(
  type: SinkType,
  payload: NotificationPayload,
  digest: PostmortemDigest,
  routingKey: string | undefined,
): string {
  switch (type) {
    case "slack":
      return JSON.stringify(toSlackMessage(payload, digest));
    case "teams":
      return JSON.stringify(toTeamsMessage(payload, digest));
    case "pagerduty":
      return JSON.stringify(toPagerDutyEvent(payload, digest, routingKey ?? ""));
    case "webhook":
      return JSON.stringify(toWebhookBody(payload, digest));
  }
}
