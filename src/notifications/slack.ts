import { capText, fitLogTail } from "./fit.ts";
import { exitText, summaryLine, TITLES } from "./message-facts.ts";
import type { NotificationPayload } from "./payload.ts";
import { digestWithoutReport, type PostmortemDigest } from "./postmortem-digest.ts";

const EMOJI = { detected: ":rotating_light:", captured: ":mag:", failed: ":x:" } as const;

/** Block Kit's limits: a section's text, a header's text, a button's label and URL. */
export const MAX_SECTION_CHARS = 3000;
const MAX_HEADER_CHARS = 150;
const MAX_BUTTON_URL_CHARS = 3000;

const field = (label: string, value: string) => ({ type: "mrkdwn", text: `*${label}*\n${value}` });
/** mrkdwn's control characters; everything else is shown as it is. */
const escape = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
const section = (text: string) => ({
  type: "section",
  text: { type: "mrkdwn", text: capText(text, MAX_SECTION_CHARS) },
});

function logBlock(lines: readonly string[]): string {
  const render = (kept: string[]) =>
    `*Last log lines*\n\`\`\`\n${kept.map((line) => escape(line).replaceAll("```", "'''")).join("\n")}\n\`\`\``;
  return render(fitLogTail(lines, (kept) => render(kept).length <= MAX_SECTION_CHARS));
}

/**
 * An incoming-webhook message in Block Kit: a header, the facts as fields, the postmortem's
 * answer, what changed, the log's end, and buttons that open the report and the console.
 */
export function toSlackMessage(
  payload: NotificationPayload,
  digest: PostmortemDigest = digestWithoutReport(payload),
) {
  const exit = exitText(payload);
  const links = [
    payload.evidenceUri ? `evidence: \`${payload.evidenceUri}\`` : null,
    payload.forensicPod
      ? `forensic pod: \`kubectl -n ${payload.forensicPod.replace("/", " exec -it ")} -- sh\``
      : null,
  ].filter((line): line is string => line !== null);
  const code = digest.top?.code ?? payload.topFinding;
  const why = digest.headline
    ? [
        `*Why:* ${escape(digest.headline)}${code ? ` (\`${code}\`)` : ""}`,
        ...(digest.top ? [`*Next:* ${escape(digest.top.nextStep)}`] : []),
      ].join("\n")
    : null;
  const buttons = [
    digest.links.report ? { label: "Open the report", url: digest.links.report } : null,
    digest.links.console ? { label: "Open in console", url: digest.links.console } : null,
  ].filter(
    (button): button is { label: string; url: string } =>
      button !== null && button.url.length <= MAX_BUTTON_URL_CHARS,
  );
  return {
    text: capText(summaryLine(payload, digest.headline), MAX_SECTION_CHARS),
    blocks: [
      {
        type: "header",
        text: {
          type: "plain_text",
          text: capText(`${TITLES[payload.event]}: ${payload.workload.name}`, MAX_HEADER_CHARS),
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
      ...(why ? [section(why)] : []),
      ...(digest.whatChanged ? [section(`*What changed:* ${escape(digest.whatChanged)}`)] : []),
      ...(digest.logTail.lines.length ? [section(logBlock(digest.logTail.lines))] : []),
      ...(links.length ? [section(links.join("\n"))] : []),
      ...(buttons.length
        ? [
            {
              type: "actions",
              elements: buttons.map((button, index) => ({
                type: "button",
                action_id: `open-${index}`,
                text: { type: "plain_text", text: button.label },
                url: button.url,
              })),
            },
          ]
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
