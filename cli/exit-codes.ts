/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  invalidInput: 3,
  unavailable: 4,
  verificationFailed: 5,
  /** podmortem refused the request (its own pod, an excluded namespace, a capture in the window). */
  refused: 6,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
