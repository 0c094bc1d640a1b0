import { describe, expect, it } from "vitest";

import { diagnose } from "../../../src/diagnosis/diagnose.ts";
import { toLogTail } from "../../../src/diagnosis/log-scan.ts";
import { buildReport, confirmedRestartCount } from "../../../src/report/build-report.ts";
import { renderMarkdown } from "../../../src/report/render-markdown.ts";
import { reportSchema } from "../../../src/report/report-schema.ts";
import { makePodEvent } from "../../fixtures/pod-events.ts";
import { CORPUS } from "../diagnosis/corpus.ts";

function reportFor(expected: string, logText?: string) {
  const scenario = CORPUS.find((s) => s.expected === expected)!;
  const input =
    logText === undefined ? scenario.input : { ...scenario.input, log: toLogTail(logText) };
  const event = makePodEvent({
    namespace: input.crash.namespace,
    pod: input.crash.pod,
    container: input.crash.container,
    reason: input.crash.reason,
    exitCode: input.crash.exitCode,
  });
  return buildReport({
    captureId: "cap-1",
    generatedAt: "2026-11-22T10:01:00Z",
    event,
    diagnosis: diagnose(input),
    pod: input.pod,
    events: input.events ?? [],
    log: input.log,
    changes: null,
    artifacts: [{ name: "crash.log", uri: "s3://b/k/crash.log", sha256: "a".repeat(64), size: 10 }],
  });
}

describe("the report", () => {
  it("passes its own schema and heads with the top finding", () => {
    const report = reportSchema.parse(reportFor("oom.limit"));
    expect(report.top.code).toBe("oom.limit");
    expect(report.headline).toBe(
      "app in shop/checkout-7d9f-abcde: The container was OOMKilled at its memory limit of 256Mi (request 128Mi).",
    );
    expect(report.findings[0]!.code).toBe("oom.limit");
  });

  it("keeps the last 50 log lines, numbered as in crash.log, with secrets masked", () => {
    const lines = Array.from({ length: 120 }, (_, i) => `line ${i + 1}`);
    lines.push("connecting with DB_PASSWORD=hunter2 token=abcdef123456");
    lines.push("FATAL dial tcp 10.0.0.5:5432: connect: connection refused");
    const report = reportFor("log.connection-refused", lines.join("\n"));
    expect(report.logTail.lines).toHaveLength(50);
    expect(report.logTail.lines[0]).toEqual({ n: 73, text: "line 73" });
    expect(report.logTail.lines.at(-1)!.n).toBe(122);
    expect(report.logTail.totalLines).toBe(122);
    const json = JSON.stringify(report);
    expect(json).not.toContain("hunter2");
    expect(json).not.toContain("abcdef123456");
    expect(renderMarkdown(report)).not.toContain("hunter2");
    expect(report.top.summary).toContain("10.0.0.5:5432");
  });

  it("renders Markdown with the headline, findings, timeline, log and artifact links", () => {
    const markdown = renderMarkdown(reportFor("log.go-panic"));
    expect(markdown).toContain("# Postmortem: app in shop/checkout-7d9f-abcde");
    expect(markdown).toContain("**The Go program panicked: assignment to entry in nil map");
    expect(markdown).toContain("**log.go-panic** (cause)");
    expect(markdown).toContain("evidence: crash.log · lines 31–38");
    expect(markdown).toContain("## Timeline");
    expect(markdown).toMatch(/```+\n\s*\d+ INFO handled request 0\n/);
    expect(markdown).toContain("- [crash.log](crash.log) — s3://b/k/crash.log");
  });

  it("a log line cannot break out of its code block", () => {
    const markdown = renderMarkdown(reportFor("unknown", "```\n# injected heading\n```"));
    const fenceLine = markdown.split("\n").find((line) => /^`{3,}$/.test(line))!;
    expect(fenceLine.length).toBeGreaterThan(3);
  });

  it("says so when there is no crash log", () => {
    const report = reportFor("image.not-found");
    expect(report.logTail.available).toBe(false);
    expect(renderMarkdown(report)).toContain("No crash log");
  });
});

describe("the report's counts and trigger", () => {
  const base = () => {
    const scenario = CORPUS.find((s) => s.expected === "oom.limit")!;
    return { scenario, diagnosis: diagnose(scenario.input) };
  };
  const podShowing = (restartCount: number) => ({
    status: { containerStatuses: [{ name: "app", restartCount }] },
  });

  it("counts restarts as the API server showed them in pod.json, not as the event's instance", () => {
    const { diagnosis } = base();
    const report = buildReport({
      captureId: "cap-1",
      generatedAt: "2026-11-22T10:01:00Z",
      event: makePodEvent({ restartCount: 0 }),
      diagnosis,
      pod: podShowing(1),
      events: [],
      log: undefined,
      changes: null,
      artifacts: [],
    });
    expect(report.crash.restartCount).toBe(1);
    expect(renderMarkdown(report)).toContain(", 1 restart |");
    expect(confirmedRestartCount(podShowing(4), "app", "regular")).toBe(4);
    expect(confirmedRestartCount(podShowing(4), "app", "init")).toBeUndefined();
    expect(confirmedRestartCount(undefined, "app", "regular")).toBeUndefined();
  });

  it("heads an on-demand capture with who asked, and claims no crash", () => {
    const trigger = {
      kind: "on-demand" as const,
      requestId: "0".repeat(32),
      requestedBy: "alice",
      identitySource: "SelfSubjectReview" as const,
      requestedAt: "2026-11-22T10:00:00Z",
    };
    const unknown = diagnose({ crash: { ...base().scenario.input.crash }, events: [], pod: {} });
    const report = reportSchema.parse(
      buildReport({
        captureId: "pm-od-1",
        generatedAt: "2026-11-22T10:01:00Z",
        event: makePodEvent({ namespace: "app-x", pod: "web", reason: "OnDemand", exitCode: null }),
        diagnosis: { ...unknown, top: { ...unknown.top, code: "unknown" } },
        pod: podShowing(2),
        events: [],
        log: undefined,
        changes: null,
        artifacts: [],
        trigger,
      }),
    );
    expect(report.headline).toBe("On-demand capture of app-x/web, requested by alice");
    expect(report.trigger).toEqual(trigger);
    const markdown = renderMarkdown(report);
    expect(markdown).toContain("# On-demand capture: app in app-x/web");
    expect(markdown).toContain("Requested by alice (identity from SelfSubjectReview)");
    expect(markdown).not.toContain("| Crash |");
  });
});
