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

/** 4xx answers and permission problems are final; throttling, 5xx and network errors pass. */
export function classifyS3Error(error: unknown): S3ErrorClass {
  if (typeof error !== "object" || error === null) return "retryable";
  const name = (error as { name?: unknown; Code?: unknown }).name;
  if (typeof name === "string" && TERMINAL_CODES.has(name)) return "terminal";
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status === undefined) return "retryable";
  if (status === 408 || status === 429 || status >= 500) return "retryable";
  return status >= 400 ? "terminal" : "retryable";
}
