export const ERROR_CODES = {
  CONFIG_INVALID: "CONFIG_INVALID",
  INPUT_INVALID: "INPUT_INVALID",
  KUBE_REQUEST_FAILED: "KUBE_REQUEST_FAILED",
  STORE_FAILED: "STORE_FAILED",
  RESTATE_UNAVAILABLE: "RESTATE_UNAVAILABLE",
  PREREQUISITE_MISSING: "PREREQUISITE_MISSING",
  VERIFICATION_FAILED: "VERIFICATION_FAILED",
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export class PodmortemError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PodmortemError";
    this.code = code;
  }
}

export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === "string") return new Error(value);
  try {
    return new Error(JSON.stringify(value));
  } catch {
    return new Error(String(value));
  }
}
