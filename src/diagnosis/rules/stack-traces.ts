import type { LogTail } from "../finding.ts";

/** How far back from the end a stack trace may start and still be the crash's. */
export const STACK_WINDOW_LINES = 400;
const MAX_BLOCK_LINES = 200;

export type Block = { start: number; end: number; anchor: number };

/** Index of the last line matching `pattern` within the last `window` lines. */
export function lastIndex(log: LogTail, pattern: RegExp, window = STACK_WINDOW_LINES): number {
  const stop = Math.max(0, log.lines.length - window);
  for (let index = log.lines.length - 1; index >= stop; index -= 1)
    if (pattern.test(log.lines[index]!)) return index;
  return -1;
}

/** Lines from `start` while `belongs` holds, at most MAX_BLOCK_LINES. */
export function extend(log: LogTail, start: number, belongs: (line: string) => boolean): number {
  let end = start;
  while (
    end + 1 < log.lines.length &&
    end + 1 - start < MAX_BLOCK_LINES &&
    belongs(log.lines[end + 1]!)
  )
    end += 1;
  return end;
}
