import type { NotificationPayload } from "./payload.ts";

const TITLES = {
  detected: "Crash detected",
  captured: "Crash captured",
  failed: "Capture failed",
} as const;
const EMOJI = { detected: ":rotating_light:", captured: ":mag:", failed: ":x:" } as const;

/** Block Kit's limit on a section's text. */
const MAX_SECTION_CHARS = 3000;

const field = (label: string, value: string) => ({ type: "mrkdwn", text: `*${label}*\n${value}` });

/** An incoming-webhook message in Block Kit: a header, the facts as fields, the links. */
export function toSlackMessage(payload: NotificationPayload) {
  const exit =
    payload.exitCode === null ? payload.reason : `${payload.reason} (exit ${payload.exitCode})`;
  const links = [
    payload.evidenceUri ? `evidence: \`${payload.evidenceUri}\`` : null,
    payload.forensicPod
      ? `forensic pod: \`kubectl -n ${payload.forensicPod.replace("/", " exec -it ")} -- sh\``
      : null,
  ].filter((line): line is string => line !== null);
  return {
    text: `${TITLES[payload.event]}: ${payload.namespace}/${payload.pod} (${payload.container}) ${exit} on ${payload.cluster}`,
    blocks: [
      {
        type: "header",
        text: {
          type: "plain_text",
          text: `${TITLES[payload.event]}: ${payload.workload.name}`.slice(0, 150),
          emoji: true,
        },
      },
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: `${EMOJI[payload.event]} *${payload.namespace}/${payload.pod}* — container \`${payload.container}\``,
        },
        fields: [
          field("Cluster", payload.cluster),
          field("Workload", `${payload.workload.kind}/${payload.workload.name}`),
          field("Reason", exit),
          field("Occurrences", payload.occurrences === null ? "—" : String(payload.occurrences)),
        ],
      },
      // The postmortem's answer right after the facts: what a reader acts on.
      ...(payload.headline
        ? [
            {
              type: "section",
              text: {
                type: "mrkdwn",
                text: `*Why:* ${payload.headline}${payload.topFinding ? ` (\`${payload.topFinding}\`)` : ""}`.slice(
                  0,
                  MAX_SECTION_CHARS,
                ),
              },
            },
          ]
        : []),
      ...(links.length
        ? [{ type: "section", text: { type: "mrkdwn", text: links.join("\n") } }]
        : []),
      {
        type: "context",
        elements: [
          {
            type: "mrkdwn",
            text: `signature \`${payload.signature.slice(0, 16)}\` · capture ${payload.captureId ?? "—"} · ${payload.at}`,
          },
        ],
      },
    ],
  };
}
