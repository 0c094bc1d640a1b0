import { capText, fitLogTail, jsonBytes } from "./fit.ts";
import { exitText, summaryLine, TITLES } from "./message-facts.ts";
import type { NotificationPayload } from "./payload.ts";
import type { PostmortemDigest } from "./postmortem-digest.ts";

export const ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive";
/** Teams and Power Automate refuse a message much above 28 KB; podmortem stays under it. */
export const MAX_TEAMS_MESSAGE_BYTES = 27 * 1024;
const MAX_TEXT_CHARS = 2000;

const text = (value: string, style: Record<string, unknown> = {}) => ({
  type: "TextBlock",
  text: capText(value, MAX_TEXT_CHARS),
  wrap: true,
  ...style,
});

/**
 * A message with one Adaptive Card (schema 1.4, what Teams renders in a workflow post): the title,
 * the postmortem's answer, the facts, what changed, the log's end in monospace (one block a line,
 * so no Markdown joins them) and buttons that open the report and the console.
 */
export function toTeamsMessage(payload: NotificationPayload, digest: PostmortemDigest) {
  const facts = [
    { title: "Cluster", value: payload.cluster },
    { title: "Pod", value: `${payload.namespace}/${payload.pod}` },
    { title: "Container", value: payload.container },
    { title: "Workload", value: `${payload.workload.kind}/${payload.workload.name}` },
    { title: "Reason", value: exitText(payload) },
    {
      title: "Occurrences",
      value: payload.occurrences === null ? "—" : String(payload.occurrences),
    },
    ...(digest.top
      ? [{ title: "Top finding", value: `${digest.top.code} (${digest.top.severity})` }]
      : []),
    ...(payload.captureId ? [{ title: "Capture", value: payload.captureId }] : []),
    ...(payload.evidenceUri ? [{ title: "Evidence", value: payload.evidenceUri }] : []),
  ];
  const actions = [
    ...(digest.links.report
      ? [{ type: "Action.OpenUrl", title: "Open the report", url: digest.links.report }]
      : []),
    ...(digest.links.console
      ? [{ type: "Action.OpenUrl", title: "Open in console", url: digest.links.console }]
      : []),
  ];
  const message = (logLines: string[]) => ({
    type: "message",
    attachments: [
      {
        contentType: ADAPTIVE_CARD_CONTENT_TYPE,
        contentUrl: null,
        content: {
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          type: "AdaptiveCard",
          version: "1.4",
          body: [
            text(`${TITLES[payload.event]}: ${payload.workload.name}`, {
              size: "Large",
              weight: "Bolder",
            }),
            text(summaryLine(payload, digest.headline)),
            ...(digest.top ? [text(`Next: ${digest.top.nextStep}`, { isSubtle: true })] : []),
            { type: "FactSet", facts },
            ...(digest.whatChanged ? [text(`What changed: ${digest.whatChanged}`)] : []),
            ...(logLines.length
              ? [
                  text("Last log lines", { weight: "Bolder", separator: true }),
                  ...logLines.map((line) =>
                    text(line || " ", { fontType: "Monospace", size: "Small", spacing: "None" }),
                  ),
                ]
              : []),
          ],
          ...(actions.length ? { actions } : {}),
        },
      },
    ],
  });
  return message(
    fitLogTail(digest.logTail.lines, (kept) => jsonBytes(message(kept)) <= MAX_TEAMS_MESSAGE_BYTES),
  );
}
