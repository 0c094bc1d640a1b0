import { SIGNATURE_HEADER, signBody, TIMESTAMP_HEADER } from "./hmac.ts";

export const SINK_TIMEOUT_MS = 10_000;

/** A delivery that failed; `final` when retrying cannot help (a 4xx other than 408/429). */
export class SinkError extends Error {
  readonly final: boolean;
  readonly status: number | undefined;

  constructor(message: string, final: boolean, status?: number) {
    super(message);
    this.name = "SinkError";
    this.final = final;
    this.status = status;
  }
}

export function isFinalStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * What went wrong on the way, without the URL: fetch puts the URL in some messages ("Failed to
 * parse URL from …"), and a webhook URL is a secret. Only the system error code is kept.
 */
export function describeNetworkError(error: unknown): string {
  let cause: unknown = error;
  for (let depth = 0; depth < 4 && cause instanceof Error; depth++) {
    const code = (cause as Error & { code?: unknown }).code;
    if (typeof code === "string" && /^[A-Z_0-9]+$/.test(code)) return code;
    if (cause.name === "TimeoutError" || cause.name === "AbortError") return "timed out";
    cause = cause.cause;
  }
  return "network error";
}

export type SinkRequest = {
  sink: string;
  url: string;
  body: string;
  headers: Record<string, string>;
  hmacSecret?: string | undefined;
  nowS: number;
  timeoutMs?: number;
};

/** One POST; answers the status of a 2xx, throws a SinkError that never names the URL. */
export async function postToSink(request: SinkRequest): Promise<number> {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    throw new SinkError(`sink ${request.sink}: its URL is not a valid URL`, true);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new SinkError(`sink ${request.sink}: its URL is not http(s)`, true);
  const timestamp = String(Math.floor(request.nowS));
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "podmortem",
        ...request.headers,
        ...(request.hmacSecret
          ? {
              [TIMESTAMP_HEADER]: timestamp,
              [SIGNATURE_HEADER]: signBody(request.hmacSecret, timestamp, request.body),
            }
          : {}),
      },
      body: request.body,
      signal: AbortSignal.timeout(request.timeoutMs ?? SINK_TIMEOUT_MS),
    });
  } catch (error) {
    throw new SinkError(`sink ${request.sink}: ${describeNetworkError(error)}`, false);
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.ok) return response.status;
  const message = `sink ${request.sink} answered ${response.status}`;
  throw new SinkError(message, isFinalStatus(response.status), response.status);
}
