import { diagnose } from "../../src/diagnosis/diagnose.ts";
import type { EventRecord, LogTail } from "../../src/diagnosis/finding.ts";
import { readLogTail } from "../../src/diagnosis/log-scan.ts";
import type { CustodyArtifact } from "../../src/evidence/custody.ts";
import type { CaptureTrigger } from "../../src/model/capture-request.ts";
import { EVIDENCE_FILES } from "../../src/evidence/evidence-layout.ts";
import type { EvidenceStore } from "../../src/evidence/evidence-store.ts";
import { buildReport } from "../../src/report/build-report.ts";
import { renderMarkdown } from "../../src/report/render-markdown.ts";
import { REPORT_FILES, type Report } from "../../src/report/report-schema.ts";
import type { CaptureRun } from "./capture-run.ts";

/** JSON artifacts above this are not parsed for the report (events and pods are far smaller). */
const MAX_JSON_BYTES = 4 * 1024 * 1024;

async function readJson(store: EvidenceStore, artifact: CustodyArtifact | undefined) {
  if (!artifact || artifact.size > MAX_JSON_BYTES) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(artifact.key))
    chunks.push(Buffer.from(chunk as Buffer));
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}

async function readCrashLog(store: EvidenceStore, artifact: CustodyArtifact | undefined) {
  if (!artifact) return undefined;
  return readLogTail(await store.get(artifact.key));
}

export type WrittenReport = { artifacts: CustodyArtifact[]; headline: string; top: string };

/**
 * Diagnoses the crash from the evidence already stored (read back from the store, bounded) and
 * writes report.json and report.md next to it, before custody.json seals them with the rest.
 */
export async function composeReport(
  store: EvidenceStore,
  input: {
    captureId: string;
    event: CaptureRun["event"];
    folder: string;
    artifacts: readonly CustodyArtifact[];
    nowIso: () => string;
    trigger?: CaptureTrigger | undefined;
  },
): Promise<WrittenReport> {
  const { event, folder } = input;
  const find = (name: string) => input.artifacts.find((a) => a.name === name);
  const [log, pod, events, node, changes]: [
    LogTail | undefined,
    unknown,
    unknown,
    unknown,
    unknown,
  ] = await Promise.all([
    readCrashLog(store, find(EVIDENCE_FILES.crashLog)),
    readJson(store, find(EVIDENCE_FILES.pod)),
    readJson(store, find(EVIDENCE_FILES.events)),
    readJson(store, find(EVIDENCE_FILES.node)),
    readJson(store, find("changes.json")),
  ]);
  const eventList = Array.isArray(events) ? (events as EventRecord[]) : [];
  const diagnosis = diagnose({
    crash: {
      namespace: event.namespace,
      pod: event.pod,
      container: event.container,
      containerType: event.containerType,
      image: event.image,
      reason: event.reason,
      exitCode: event.exitCode,
      signal: event.signal,
      message: event.message,
      restartCount: event.restartCount,
      startedAt: event.startedAt,
      finishedAt: event.finishedAt,
    },
    pod,
    events: eventList,
    node,
    ...(log ? { log } : {}),
  });
  const pending = (name: string): Report["artifacts"][number] => ({
    name,
    uri: store.uri(`${folder}${name}`),
    sha256: null,
    size: null,
  });
  const report = buildReport({
    trigger: input.trigger,
    captureId: input.captureId,
    generatedAt: input.nowIso(),
    event,
    diagnosis,
    pod,
    events: eventList,
    log,
    changes: summaryOf(changes),
    artifacts: [
      ...input.artifacts.map((a) => ({ name: a.name, uri: a.uri, sha256: a.sha256, size: a.size })),
      pending(REPORT_FILES.json),
      pending(REPORT_FILES.markdown),
      pending(EVIDENCE_FILES.custody),
    ],
  });
  const artifacts: CustodyArtifact[] = [];
  for (const [name, body, contentType] of [
    [REPORT_FILES.json, `${JSON.stringify(report, null, 2)}\n`, "application/json"],
    [REPORT_FILES.markdown, renderMarkdown(report), "text/markdown; charset=utf-8"],
  ] as const) {
    const stored = await store.put(`${folder}${name}`, body, { contentType });
    artifacts.push({
      name,
      key: stored.key,
      uri: stored.uri,
      size: stored.size,
      sha256: stored.sha256,
      truncated: stored.truncated,
      capturedAt: input.nowIso(),
    });
  }
  return { artifacts, headline: report.headline, top: report.top.code };
}

function summaryOf(changes: unknown): Report["changes"] {
  const value = changes as { summary?: unknown; details?: unknown } | undefined;
  if (!value || typeof value.summary !== "string") return null;
  const details = Array.isArray(value.details)
    ? value.details.filter((d): d is string => typeof d === "string").slice(0, 50)
    : [];
  return { summary: value.summary, details };
}

/** The step: one `ctx.run`, its journal entry the two artifacts and the headline. */
export async function writeReport(run: CaptureRun): Promise<void> {
  const written = await run.step(
    "write report",
    () =>
      composeReport(run.deps.store, {
        captureId: run.captureId,
        event: run.event,
        folder: run.folder,
        artifacts: run.artifacts,
        nowIso: () => new Date().toISOString(),
        trigger: run.status.trigger,
      }),
    (r) => `${r.top}: ${r.headline}`,
  );
  if (!written) return;
  run.artifacts.push(...written.artifacts);
  run.status.headline = written.headline;
  run.status.topFinding = written.top;
  run.save();
}
