import { PodmortemError } from "../src/errors.ts";
import { EXIT, type ExitCode } from "./exit-codes.ts";

export type Failure = { message: string; exit: ExitCode };

// Connection failures of fetch/undici (error.cause.code) and of Node's sockets (error.code).
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

type Shaped = {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  status?: unknown;
  body?: unknown;
  responseText?: unknown;
  path?: unknown;
  cause?: Shaped;
  address?: unknown;
  port?: unknown;
};

/** The `message` of a JSON answer (Kubernetes Status, Restate error), else the text itself. */
function answerMessage(text: unknown): string {
  const raw = typeof text === "string" ? text : "";
  try {
    const parsed = JSON.parse(raw) as { message?: unknown };
    if (typeof parsed.message === "string") return parsed.message;
  } catch {
    // not JSON
  }
  return raw.trim().split("\n")[0] ?? "";
}

function firstLine(value: unknown): string {
  const text = typeof value === "string" && value.trim() !== "" ? value : "unknown error";
  return text.trim().split("\n")[0]!;
}

function unreachable(error: Shaped): Failure | undefined {
  for (let e: Shaped | undefined = error; e; e = e.cause) {
    const code = typeof e.code === "string" ? e.code : undefined;
    if (code && UNREACHABLE.has(code)) {
      const where =
        typeof e.address === "string"
          ? ` ${e.address}${typeof e.port === "number" ? `:${e.port}` : ""}`
          : "";
      return { message: `cannot connect to${where} (${code})`, exit: EXIT.unavailable };
    }
    if (e.name === "TimeoutError")
      return { message: "no answer in time (timed out)", exit: EXIT.unavailable };
  }
  return undefined;
}

/**
 * Any failure as one sentence and the documented exit code: 3 when the input names something that
 * is not there or is refused, 4 when a server (Restate, the API server) or a prerequisite is not
 * reachable, 1 otherwise. Never a stack trace (PODMORTEM_DEBUG=1 prints it as well).
 */
export function describeFailure(thrown: unknown): Failure {
  if (thrown instanceof PodmortemError) {
    const exit =
      thrown.code === "CONFIG_INVALID" || thrown.code === "INPUT_INVALID"
        ? EXIT.invalidInput
        : thrown.code === "RESTATE_UNAVAILABLE" || thrown.code === "PREREQUISITE_MISSING"
          ? EXIT.unavailable
          : thrown.code === "VERIFICATION_FAILED"
            ? EXIT.verificationFailed
            : EXIT.failure;
    return { message: firstLine(thrown.message), exit };
  }
  const error = (typeof thrown === "object" && thrown !== null ? thrown : {}) as Shaped;
  const code = error.code;
  // parseArgs: an unknown option or a missing value is a usage mistake.
  if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_"))
    return { message: firstLine(error.message), exit: EXIT.usage };
  // @kubernetes/client-node's ApiException: the HTTP status in `code`, the Status in `body`.
  if (typeof code === "number" && "body" in error) {
    const message = `the API server answered ${code}: ${answerMessage(error.body) || "no message"}`;
    return {
      message,
      exit:
        code >= 500
          ? EXIT.unavailable
          : code === 401 || code === 403
            ? EXIT.failure
            : EXIT.invalidInput,
    };
  }
  // @restatedev/restate-sdk-clients' HttpCallError: Restate's status and its JSON answer. A 4xx
  // is a handler's refusal (a TerminalError's own sentence), a 5xx Restate not coping.
  if (typeof error.status === "number" && "responseText" in error) {
    const answer = answerMessage(error.responseText) || "no message";
    return error.status >= 500
      ? { message: `Restate answered ${error.status}: ${answer}`, exit: EXIT.unavailable }
      : { message: answer, exit: EXIT.invalidInput };
  }
  const network = unreachable(error);
  if (network) return network;
  if (code === "ENOENT" || code === "EACCES" || code === "EISDIR") {
    const what =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "not readable"
          : "a folder, not a file";
    const file = typeof error.path === "string" ? error.path : "(unnamed)";
    return { message: `${what}: ${file}`, exit: EXIT.invalidInput };
  }
  return {
    message: firstLine(typeof thrown === "string" ? thrown : error.message),
    exit: EXIT.failure,
  };
}
