export type S3ErrorClass = "terminal" | "retryable";

const TERMINAL_CODES = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "NoSuchBucket",
  "InvalidBucketName",
  "AllAccessDisabled",
  "InvalidObjectState",
  "KMS.NotFoundException",
  "KMS.DisabledException",
]);

// 4xx answers that a later attempt can pass: S3 sends 400 RequestTimeout when a body stalls,
// the SDK corrects its clock offset from a 403 RequestTimeTooSkewed, and refreshes an expired
// web-identity (IRSA) token before the next request.
const RETRYABLE_CODES = new Set([
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "ExpiredToken",
  "TokenRefreshRequired",
  "SlowDown",
  "Throttling",
  "ThrottlingException",
]);

type S3ErrorShape = { name?: unknown; $metadata?: { httpStatusCode?: number }; cause?: unknown };

/** 4xx answers and permission problems are final; throttling, 5xx and network errors pass. */
export function classifyS3Error(error: unknown): S3ErrorClass {
  return classify(error, 0);
}

function classify(error: unknown, depth: number): S3ErrorClass {
  if (typeof error !== "object" || error === null) return "retryable";
  const { name, $metadata, cause } = error as S3ErrorShape;
  if (typeof name === "string" && TERMINAL_CODES.has(name)) return "terminal";
  if (typeof name === "string" && RETRYABLE_CODES.has(name)) return "retryable";
  const status = $metadata?.httpStatusCode;
  // A wrapper (ours, or a stream error around the SDK's) carries the S3 answer as its cause.
  if (status === undefined) {
    return cause === undefined || depth >= 4 ? "retryable" : classify(cause, depth + 1);
  }
  if (status === 408 || status === 429 || status >= 500) return "retryable";
  return status >= 400 ? "terminal" : "retryable";
}
