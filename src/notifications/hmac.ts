import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "x-podmortem-signature";
export const TIMESTAMP_HEADER = "x-podmortem-timestamp";

/** `sha256=<hex>` over `<timestamp>.<body>`: a receiver can refuse replays by the timestamp. */
export function signBody(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export function verifyBody(
  secret: string,
  timestamp: string,
  body: string,
  signature: string,
): boolean {
  const expected = Buffer.from(signBody(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
