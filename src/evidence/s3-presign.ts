import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

/** SigV4 refuses a presigned URL valid for longer than seven days. */
export const MAX_PRESIGN_EXPIRY_S = 7 * 86_400;

/**
 * A presigned GET URL (SigV4, query-string authentication) made by the AWS SDK's own presigner:
 * whoever holds it reads that one object until it expires. It carries a signature, never the
 * secret key.
 */
export async function presignGetUrl(
  client: S3Client,
  bucket: string,
  key: string,
  expiresS: number,
  now: Date = new Date(),
): Promise<string> {
  const expiresIn = Math.min(Math.max(1, Math.floor(expiresS)), MAX_PRESIGN_EXPIRY_S);
  return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), {
    expiresIn,
    signingDate: now,
  });
}
