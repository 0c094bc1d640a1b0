export const TRUNCATED = "…truncated";

/** Text cut to `maxChars`, saying so at the end. */
export function capText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const marker = ` ${TRUNCATED}`;
  return `${text.slice(0, Math.max(0, maxChars - marker.length))}${marker}`;
}

/**
 * The last log lines that `fits` accepts: a log's end is where a crash shows, so earlier lines
 * go first, replaced by one line that says how many went.
 */
export function fitLogTail(lines: readonly string[], fits: (lines: string[]) => boolean): string[] {
  if (fits([...lines])) return [...lines];
  for (let dropped = 1; dropped <= lines.length; dropped++) {
    const kept = [
      `${TRUNCATED} (${dropped} earlier line${dropped === 1 ? "" : "s"})`,
      ...lines.slice(dropped),
    ];
    if (fits(kept)) return kept;
  }
  return [`${TRUNCATED} (${lines.length} lines)`];
}

export const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), "utf8");
