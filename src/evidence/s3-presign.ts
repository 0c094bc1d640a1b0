import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createHash, createHmac } from "node:crypto";

/** SigV4 refuses a presigned URL valid for longer than seven days. */
const MAX_EXPIRY_S = 7 * 86_400;

type CapturedRequest = {
  protocol: string;
  hostname: string;
  port?: number | undefined;
  path: string;
  query: Record<string, string | string[] | null | undefined>;
};

/** RFC 3986 unreserved characters stay; everything else is percent-encoded, as SigV4 wants. */
const encode = (value: string) =>
  encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
const sha256Hex = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");
const hmac = (key: Buffer | string, text: string) =>
  createHmac("sha256", key).update(text, "utf8").digest();

/**
 * The request the S3 client would send for a GetObject (its endpoint, path style and encoded key
 * resolved exactly as for a real call), stopped just before it is signed.
 */
async function resolveGetRequest(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<CapturedRequest> {
  const command = new GetObjectCommand({ Bucket: bucket, Key: key });
  let captured: CapturedRequest | undefined;
  command.middlewareStack.addRelativeTo(
    () => (args: { request: unknown }) => {
      captured = args.request as CapturedRequest;
      return Promise.resolve({ output: { $metadata: {} }, response: {} });
    },
    {
      name: "podmortemPresignIntercept",
      relation: "before",
      toMiddleware: "httpSigningMiddleware",
      override: true,
    },
  );
  await client.send(command);
  if (!captured) throw new Error("the S3 client built no request to presign");
  return captured;
}

/**
 * A presigned GET URL (SigV4, query-string authentication): whoever holds it reads that one
 * object until it expires. It carries a signature, never the secret key.
 */
export async function presignGetUrl(
  client: S3Client,
  bucket: string,
  key: string,
  expiresS: number,
  now: Date = new Date(),
): Promise<string> {
  const request = await resolveGetRequest(client, bucket, key);
  const credentials = await client.config.credentials();
  const region = await client.config.region();
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/s3/aws4_request`;
  const host = request.port ? `${request.hostname}:${request.port}` : request.hostname;
  const query: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(request.query)) {
    if (value === null || value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) query.push([name, one]);
  }
  query.push(
    ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
    ["X-Amz-Credential", `${credentials.accessKeyId}/${scope}`],
    ["X-Amz-Date", amzDate],
    ["X-Amz-Expires", String(Math.min(Math.max(1, Math.floor(expiresS)), MAX_EXPIRY_S))],
    ["X-Amz-SignedHeaders", "host"],
  );
  if (credentials.sessionToken) query.push(["X-Amz-Security-Token", credentials.sessionToken]);
  const canonicalQuery = query
    .map(([name, value]) => [encode(name), encode(value)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
  // The path is already encoded by the client; S3 signs it as sent, without encoding it again.
  const canonicalRequest = [
    "GET",
    request.path,
    canonicalQuery,
    `host:${host}\n`,
    "host",
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
  const signingKey = hmac(
    hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), region), "s3"),
    "aws4_request",
  );
  const signature = createHmac("sha256", signingKey).update(stringToSign, "utf8").digest("hex");
  const protocol = request.protocol.endsWith(":") ? request.protocol : `${request.protocol}:`;
  return `${protocol}//${host}${request.path}?${canonicalQuery}&X-Amz-Signature=${signature}`;
}
