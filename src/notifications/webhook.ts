import { Agent, fetch, type Response } from "undici";

import {
  ALLOW_LIST_FIELD,
  articled,
  createGuardedLookup,
  DestinationRefusedError,
  effectivePort,
  parseAllowList,
  refusalOfUrl,
  type ResolveHost,
} from "../net/outbound-guard.ts";
import { SIGNATURE_HEADER, signBody, TIMESTAMP_HEADER } from "./hmac.ts";

export const SINK_TIMEOUT_MS = 10_000;

/** A delivery that failed; `final` when retrying cannot help (a 4xx other than 408/429). */
export class SinkError extends Error {
  readonly final: boolean;
  readonly status: number | undefined;
  /** What a 429 or 503 asked for in Retry-After, in seconds. */
  readonly retryAfterS: number | undefined;

  constructor(message: string, final: boolean, status?: number, retryAfterS?: number) {
    super(message);
    this.name = "SinkError";
    this.final = final;
    this.status = status;
    this.retryAfterS = retryAfterS;
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
  /** `notifications.allowedDestinations`: what may be called although it is not public. */
  allowedDestinations?: readonly string[] | undefined;
  /** DNS as the connection sees it; the system resolver unless a test gives its own. */
  resolveHost?: ResolveHost | undefined;
  /** Why a final 4xx was refused, from its body (never the URL or a secret); sink-specific. */
  describeRefusal?: ((body: string) => string | undefined) | undefined;
};

/** A refusal's body is read this far, no further: it only explains, never gets stored whole. */
const MAX_REFUSAL_BODY_BYTES = 4096;
const MAX_RETRY_AFTER_S = 300;

async function readSome(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return "";
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    chunks.push(Buffer.from(chunk as Uint8Array));
    size += (chunk as Uint8Array).length;
    if (size >= maxBytes) break;
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString("utf8");
}

/** Retry-After in seconds (the delta form only; a date is left to the backoff), bounded. */
function retryAfterOf(response: Response): number | undefined {
  const value = Number(response.headers.get("retry-after"));
  return Number.isFinite(value) && value > 0 ? Math.min(value, MAX_RETRY_AFTER_S) : undefined;
}

function refusedCause(error: unknown): DestinationRefusedError | undefined {
  let cause: unknown = error;
  for (let depth = 0; depth < 6 && cause instanceof Error; depth++) {
    if (cause instanceof DestinationRefusedError) return cause;
    if (cause instanceof AggregateError) {
      const inner = cause.errors.find((e) => e instanceof DestinationRefusedError);
      if (inner) return inner;
    }
    cause = cause.cause;
  }
  return undefined;
}

const refusedBecause = (sink: string, what: string) =>
  new SinkError(
    `sink ${sink}: its URL ${what}, which podmortem does not call unless ${ALLOW_LIST_FIELD} names it`,
    true,
  );

/**
 * One POST; answers the status of a 2xx, throws a SinkError that never names the URL. The
 * destination is checked before the request (its host) and at connect time (every address its
 * name resolves to); redirects are answers, never followed.
 */
export async function postToSink(request: SinkRequest): Promise<number> {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    throw new SinkError(`sink ${request.sink}: its URL is not a valid URL`, true);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new SinkError(`sink ${request.sink}: its URL is not http(s)`, true);
  const allowed = parseAllowList(request.allowedDestinations);
  const refusal = refusalOfUrl(url, allowed);
  if (refusal) throw refusedBecause(request.sink, `points to ${articled(refusal)} address`);
  const timestamp = String(Math.floor(request.nowS));
  const dispatcher = new Agent({
    connect: {
      lookup: createGuardedLookup({
        allowed,
        port: effectivePort(url),
        resolve: request.resolveHost,
      }),
    },
  });
  let response: Response;
  try {
    response = await fetch(url, {
      dispatcher,
      redirect: "manual",
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
    await dispatcher.destroy().catch(() => undefined);
    const refused = refusedCause(error);
    if (refused) throw refusedBecause(request.sink, refused.message);
    throw new SinkError(`sink ${request.sink}: ${describeNetworkError(error)}`, false);
  }
  const final = isFinalStatus(response.status);
  const why =
    final && request.describeRefusal
      ? request.describeRefusal(await readSome(response, MAX_REFUSAL_BODY_BYTES).catch(() => ""))
      : undefined;
  await response.body?.cancel().catch(() => undefined);
  await dispatcher.destroy().catch(() => undefined);
  if (response.ok) return response.status;
  if (response.status >= 300 && response.status < 400)
    throw new SinkError(
      `sink ${request.sink} answered ${response.status}, a redirect: podmortem does not follow redirects`,
      true,
    );
  const message = `sink ${request.sink} answered ${response.status}${why ? `: ${why}` : ""}`;
  throw new SinkError(message, final, response.status, retryAfterOf(response));
}
