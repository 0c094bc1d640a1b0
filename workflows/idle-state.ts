/**
 * Keyed state idle this long is forgotten: so many windows of its rate limit, each counted as
 * at least a second (a window of 0 still keeps state for the count of windows in seconds).
 */
export function idleLimitMs(windowS: number, forgetAfterIdleWindows: number): number {
  return Math.max(windowS, 1) * 1000 * forgetAfterIdleWindows;
}
