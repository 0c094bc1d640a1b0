import type { Readable } from "node:stream";

import { maskSecrets } from "../diagnosis/mask-secrets.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import type { RemoteConfig } from "../model/remote-config.ts";
import { REPORT_FILES, reportSchema, type ReportFinding } from "../report/report-schema.ts";
import { renderConsoleUrl } from "./console-link.ts";
import type { NotificationPayload } from "./payload.ts";

/** What a message shows of the crashed container's log: the last lines, masked. */
export const MAX_NOTIFIED_LOG_LINES = 20;
const MAX_LOG_LINE_CHARS = 500;
/** report.json is small (50 log lines, 100 timeline entries); anything larger is not read. */
const MAX_REPORT_BYTES = 2 * 1024 * 1024;

/** The postmortem as every sink shows it: the answer, what changed, the log's end, a link. */
export type PostmortemDigest = {
  headline: string | null;
  top: Pick<ReportFinding, "code" | "severity" | "summary" | "nextStep"> | null;
  whatChanged: string | null;
  logTail: { lines: string[]; totalLines: number };
  links: {
    /** A presigned GET of report.md: opens without credentials until it expires. */
    report: string | null;
    console: string | null;
  };
};

async function readBounded(body: Readable, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const bytes = Buffer.from(chunk as Buffer);
    size += bytes.length;
    if (size > maxBytes) {
      body.destroy();
      return undefined;
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

async function readReport(store: EvidenceStore, folder: string) {
  try {
    const bytes = await readBounded(
      await store.get(`${folder}${REPORT_FILES.json}`),
      MAX_REPORT_BYTES,
    );
    if (!bytes) return undefined;
    const parsed = reportSchema.safeParse(JSON.parse(bytes.toString("utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    // No report (the step failed, the event came before any capture): the message goes without.
    return undefined;
  }
}

/**
 * Read inside the delivery step, from the sealed evidence, so neither the log tail nor the
 * presigned link is ever written to a journal: the step returns only the HTTP status.
 */
export async function readPostmortemDigest(
  store: EvidenceStore | undefined,
  payload: NotificationPayload,
  link: RemoteConfig["notifications"]["link"],
): Promise<PostmortemDigest> {
  const folder = payload.evidenceFolder;
  const report = store && folder ? await readReport(store, folder) : undefined;
  const presign = store?.presignGet?.bind(store);
  // A message without its link beats no message: a presign that fails (credentials that do not
  // resolve) leaves the link out, like a report that cannot be read leaves out the report.
  const reportLink =
    report && folder && presign && link.presignExpiryS > 0
      ? await presign(`${folder}${REPORT_FILES.markdown}`, link.presignExpiryS).catch(() => null)
      : null;
  const lines = (report?.logTail.lines ?? []).slice(-MAX_NOTIFIED_LOG_LINES).map(({ text }) => {
    const masked = maskSecrets(text);
    return masked.length > MAX_LOG_LINE_CHARS
      ? `${masked.slice(0, MAX_LOG_LINE_CHARS - 1)}…`
      : masked;
  });
  return {
    headline: report?.headline ?? payload.headline,
    top: report
      ? {
          code: report.top.code,
          severity: report.top.severity,
          summary: report.top.summary,
          nextStep: report.top.nextStep,
        }
      : null,
    whatChanged: report?.changes?.summary ?? null,
    logTail: { lines, totalLines: report?.logTail.totalLines ?? 0 },
    links: {
      report: reportLink,
      console: link.consoleUrlTemplate ? renderConsoleUrl(link.consoleUrlTemplate, payload) : null,
    },
  };
}

/** The link a reader clicks first: the report itself, else the console page. */
export function primaryLink(digest: PostmortemDigest): string | null {
  return digest.links.report ?? digest.links.console;
}

/** What a message can say when there is no report (a crash just detected). */
export function digestWithoutReport(payload: NotificationPayload): PostmortemDigest {
  return {
    headline: payload.headline,
    top: null,
    whatChanged: null,
    logTail: { lines: [], totalLines: 0 },
    links: { report: null, console: null },
  };
}
