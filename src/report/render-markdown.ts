import type { Report } from "./report-schema.ts";

const SEVERITY_MARK: Record<string, string> = {
  critical: "🟥",
  error: "🟧",
  warning: "🟨",
  info: "⬜",
};

/** Markdown text that cannot break out of its place: no new headings, tables or HTML. */
function inline(text: string): string {
  return text.replace(/[\r\n]+/g, " ").replace(/([\\`*_[\]<>|])/g, "\\$1");
}

function fence(lines: string[]): string {
  const longest = Math.max(
    2,
    ...lines.map((line) => (line.match(/`+/g) ?? []).reduce((m, s) => Math.max(m, s.length), 0)),
  );
  const ticks = "`".repeat(longest + 1);
  return [ticks, ...lines, ticks].join("\n");
}

function evidenceText(evidence: Report["top"]["evidence"][number]): string {
  const where = [
    evidence.artifact,
    evidence.field,
    evidence.lines ? `lines ${evidence.lines[0]}–${evidence.lines[1]}` : undefined,
  ]
    .filter(Boolean)
    .join(" · ");
  return evidence.quote
    ? `${inline(where)}: \`${evidence.quote.replaceAll("`", "'")}\``
    : inline(where);
}

/** The report as Markdown: what a reader opens first in the evidence folder. */
export function renderMarkdown(report: Report): string {
  const { subject, crash, top } = report;
  const out: string[] = [];
  const trigger = report.trigger;
  const onDemand = trigger?.kind === "on-demand" ? trigger : undefined;
  out.push(
    `# ${onDemand ? "On-demand capture" : "Postmortem"}: ${inline(subject.container)} in ${inline(subject.namespace)}/${inline(subject.pod)}`,
  );
  if (onDemand) {
    out.push("");
    out.push(
      `Requested by ${inline(onDemand.requestedBy)} (identity from ${inline(onDemand.identitySource)}) at ${inline(onDemand.requestedAt)}, request ${inline(onDemand.requestId)}: a capture of a live pod, not of a crash.`,
    );
  }
  out.push("");
  out.push(`**${inline(top.summary)}**`);
  out.push("");
  out.push(`Next step: ${inline(top.nextStep)}`);
  out.push("");
  out.push(
    `| | |\n|---|---|\n` +
      `| Workload | ${inline(subject.workload.kind)}/${inline(subject.workload.name)} |\n` +
      `| Container | ${inline(subject.container)} (${inline(subject.containerType)}), image \`${subject.image.replaceAll("`", "'")}\` |\n` +
      `| Node | ${inline(subject.node ?? "none")} |\n` +
      (onDemand
        ? `| Requested | by ${inline(onDemand.requestedBy)}, ${crash.restartCount} restarts so far |\n` +
          `| Running since | ${inline(crash.startedAt ?? "?")} |\n`
        : `| Crash | ${inline(crash.reason)}${crash.exitCode !== null ? `, exit ${crash.exitCode}` : ""}${crash.signal ? `, signal ${crash.signal}` : ""}, ${crash.restartCount} ${crash.restartCount === 1 ? "restart" : "restarts"} |\n` +
          `| Ran | ${inline(crash.startedAt ?? "?")} → ${inline(crash.finishedAt ?? "?")} |\n`) +
      `| Capture | ${inline(report.captureId)} (cluster ${inline(subject.cluster)}) |`,
  );
  out.push("");
  out.push("## Findings");
  out.push("");
  for (const finding of report.findings) {
    out.push(
      `- ${SEVERITY_MARK[finding.severity] ?? ""} **${inline(finding.code)}** (${finding.kind}): ${inline(finding.summary)}`,
    );
    for (const evidence of finding.evidence) out.push(`  - evidence: ${evidenceText(evidence)}`);
    out.push(`  - next: ${inline(finding.nextStep)}`);
  }
  out.push("");
  out.push("## What changed");
  out.push("");
  if (!report.changes) out.push("Not captured for this workload.");
  else {
    out.push(inline(report.changes.summary));
    for (const detail of report.changes.details) out.push(`- ${inline(detail)}`);
  }
  out.push("");
  out.push("## Timeline");
  out.push("");
  if (report.timeline.length === 0) out.push("No status or events were captured.");
  for (const entry of report.timeline)
    out.push(`- ${inline(entry.at ?? "now")} · ${entry.source} · ${inline(entry.what)}`);
  out.push("");
  out.push(`## Last ${report.logTail.lines.length} log lines (secrets masked)`);
  out.push("");
  if (!report.logTail.available) out.push("No crash log: the container left none.");
  else if (report.logTail.lines.length === 0) out.push("The crash log is empty.");
  else {
    const width = String(report.logTail.lines.at(-1)!.n).length;
    out.push(
      fence(report.logTail.lines.map((line) => `${String(line.n).padStart(width)} ${line.text}`)),
    );
  }
  out.push("");
  out.push("## Artifacts");
  out.push("");
  for (const artifact of report.artifacts) {
    const facts = [
      artifact.size !== null ? `${artifact.size} bytes` : undefined,
      artifact.sha256 ? `sha256 ${artifact.sha256}` : undefined,
    ]
      .filter(Boolean)
      .join(", ");
    out.push(
      `- [${inline(artifact.name)}](${encodeURI(artifact.name)}) — ${inline(artifact.uri)}${facts ? ` (${facts})` : ""}`,
    );
  }
  out.push("");
  if (report.diagnosis.rulesFailed.length > 0) {
    out.push(
      `Rules that failed on this evidence: ${report.diagnosis.rulesFailed.map(inline).join(", ")}.`,
    );
    out.push("");
  }
  out.push(`_${inline(report.schema)}, generated ${inline(report.generatedAt)}._`);
  return `${out.join("\n")}\n`;
}
