import type { LogTail } from "./finding.ts";

/** How much of the crash log the diagnosis reads: the end, where a crash leaves its words. */
export const MAX_LOG_LINES = 2000;
export const MAX_LOG_BYTES = 256 * 1024;
export const MAX_LINE_CHARS = 2000;
/** Known error phrases count only in the last lines: earlier ones the process survived. */
export const TAIL_WINDOW_LINES = 60;

/**
 * The last MAX_LOG_LINES lines of a log, each cut at MAX_LINE_CHARS, numbered from the file's
 * start. Reads a stream of any size with bounded memory (a line longer than MAX_LOG_BYTES is cut).
 */
export async function readLogTail(chunks: AsyncIterable<Buffer | string>): Promise<LogTail> {
  const kept: string[] = [];
  let total = 0;
  let partial = "";
  let truncated = false;
  const push = (line: string) => {
    total += 1;
    kept.push(line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line);
    if (kept.length > MAX_LOG_LINES) {
      kept.shift();
      truncated = true;
    }
  };
  for await (const chunk of chunks) {
    partial += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    const parts = partial.split(/\r?\n/);
    partial = parts.pop() ?? "";
    for (const line of parts) push(line);
    if (partial.length > MAX_LOG_BYTES) partial = partial.slice(0, MAX_LOG_BYTES);
  }
  if (partial !== "") push(partial);
  return { lines: kept, firstLine: total - kept.length + 1, truncated };
}

/** The same over a string: for tests and for logs already in memory. */
export function toLogTail(text: string): LogTail {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  const kept = lines.slice(-MAX_LOG_LINES).map((line) => line.slice(0, MAX_LINE_CHARS));
  return {
    lines: kept,
    firstLine: lines.length - kept.length + 1,
    truncated: kept.length < lines.length,
  };
}

export type LogMatch = { index: number; line: string; lineNumber: number; match: RegExpExecArray };

/** The last line matching `pattern`, searching only the last `window` lines. */
export function lastMatch(
  log: LogTail | undefined,
  pattern: RegExp,
  window = TAIL_WINDOW_LINES,
): LogMatch | undefined {
  if (!log) return undefined;
  const stop = Math.max(0, log.lines.length - window);
  for (let index = log.lines.length - 1; index >= stop; index -= 1) {
    const line = log.lines[index]!;
    const match = pattern.exec(line);
    if (match) return { index, line, lineNumber: log.firstLine + index, match };
  }
  return undefined;
}

export function lineNumber(log: LogTail, index: number): number {
  return log.firstLine + index;
}

/** Lines `from`..`to` (indexes, inclusive) as a [first, last] line-number pair. */
export function lineRange(log: LogTail, from: number, to: number): [number, number] {
  return [lineNumber(log, from), lineNumber(log, to)];
}
