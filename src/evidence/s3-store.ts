import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandInput,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

import type { EvidenceStore, PutOptions, StoredArtifact } from "./evidence-store.ts";
import { HashingLimiter, sha256Hex, toReadable } from "./hashing.ts";
import { presignGetUrl } from "./s3-presign.ts";

export type S3ClientSettings = {
  endpoint?: string | undefined;
  region?: string | undefined;
  forcePathStyle?: boolean | undefined;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /**
   * 1 (the default) for workflow steps: Restate retries the whole step with its own backoff, and
   * SDK retries inside it would multiply. An interactive export, with no Restate around, retries.
   */
  maxAttempts?: number | undefined;
};

/**
 * Without explicit credentials the AWS SDK's default chain applies (env, web identity / IRSA,
 * instance profile). Checksums only when S3 requires them: podmortem computes its own SHA-256,
 * and S3-compatible servers reject the SDK's chunked trailing checksums.
 */
export function createS3Client(settings: S3ClientSettings = {}): S3Client {
  return new S3Client({
    region: settings.region ?? process.env.AWS_REGION ?? "us-east-1",
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle ?? false,
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: settings.maxAttempts ?? 1,
  });
}

export type S3StoreSettings = {
  client: S3Client;
  bucket: string;
  prefix?: string;
  sse?: { kmsKeyId?: string | undefined };
  objectLock?: { mode: "GOVERNANCE" | "COMPLIANCE"; retainDays: number };
  partSizeBytes?: number;
  partsInFlight?: number;
};

export const DEFAULT_PART_SIZE_BYTES = 8 * 1024 * 1024;
/** S3's smallest part: what a memory-bounded process (the retriever) uploads with. */
export const MIN_PART_SIZE_BYTES = 5 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;

function httpStatusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

export function createS3Store(settings: S3StoreSettings): EvidenceStore {
  const { client, bucket } = settings;
  const prefix = settings.prefix ?? "";
  const objectKey = (key: string) => `${prefix}${key}`;
  const uri = (key: string) => `s3://${bucket}/${objectKey(key)}`;

  function protection(): Partial<PutObjectCommandInput> {
    const extra: Partial<PutObjectCommandInput> = {};
    if (settings.sse) {
      extra.ServerSideEncryption = "aws:kms";
      if (settings.sse.kmsKeyId) extra.SSEKMSKeyId = settings.sse.kmsKeyId;
    }
    if (settings.objectLock) {
      extra.ObjectLockMode = settings.objectLock.mode;
      extra.ObjectLockRetainUntilDate = new Date(
        Date.now() + settings.objectLock.retainDays * 86_400_000,
      );
    }
    return extra;
  }

  async function readIfPresent(key: string): Promise<Buffer | undefined> {
    try {
      const answer = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }),
      );
      return Buffer.from((await answer.Body?.transformToByteArray()) ?? []);
    } catch (error) {
      if (httpStatusOf(error) === 404) return undefined;
      throw error;
    }
  }

  return {
    describe: () => `s3://${bucket}/${prefix}`,
    uri,
    async put(key, body, options: PutOptions = {}): Promise<StoredArtifact> {
      const limiter = new HashingLimiter(options.maxBytes);
      const passThrough = new PassThrough();
      const upload = new Upload({
        client,
        params: {
          Bucket: bucket,
          Key: objectKey(key),
          Body: passThrough,
          ContentType: options.contentType ?? "application/octet-stream",
          ...protection(),
        },
        partSize: settings.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES,
        queueSize: settings.partsInFlight ?? PARTS_IN_FLIGHT,
        leavePartsOnError: false,
      });
      const piping = pipeline(toReadable(body), limiter, passThrough);
      const uploading = upload.done();
      try {
        await Promise.all([piping, uploading]);
      } catch (error) {
        // Stop the side that is still going: after an S3 error the source would otherwise wait on
        // backpressure forever, and after a source error the multipart upload would stay open.
        passThrough.destroy();
        await upload.abort().catch(() => undefined);
        await Promise.allSettled([piping, uploading]);
        throw error;
      }
      return {
        key,
        uri: uri(key),
        size: limiter.size,
        sha256: limiter.digest(),
        truncated: limiter.truncated,
      };
    },
    async create(key, body, options: PutOptions = {}) {
      // A read first, for S3-compatible stores that ignore If-None-Match on PUT (s3rver does);
      // where it is honoured (AWS S3, MinIO), the conditional PUT closes the race after the read.
      const before = await readIfPresent(key);
      if (before) return { existing: before };
      const bytes = Buffer.from(body);
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: objectKey(key),
            Body: bytes,
            ContentType: options.contentType ?? "application/octet-stream",
            IfNoneMatch: "*",
            // Object Lock refuses a PUT without an integrity checksum.
            ...(settings.objectLock ? { ChecksumAlgorithm: "SHA256" as const } : {}),
            ...protection(),
          }),
        );
      } catch (error) {
        // 412: another writer created it between the read and the PUT; 409: a concurrent one.
        const status = httpStatusOf(error);
        if (status === 412 || status === 409) {
          const other = await readIfPresent(key);
          if (other) return { existing: other };
        }
        throw error;
      }
      return {
        created: {
          key,
          uri: uri(key),
          size: bytes.length,
          sha256: sha256Hex(bytes),
          truncated: false,
        },
      };
    },
    async get(key): Promise<Readable> {
      const answer = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }),
      );
      return answer.Body as Readable;
    },
    presignGet: (key, expiresS) => presignGetUrl(client, bucket, objectKey(key), expiresS),
    async head(key) {
      try {
        const answer = await client.send(
          new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }),
        );
        return { size: answer.ContentLength ?? 0 };
      } catch (error) {
        if (httpStatusOf(error) === 404) return undefined;
        throw error;
      }
    },
    async list(listPrefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: objectKey(listPrefix),
            ContinuationToken: token,
          }),
        );
        for (const object of page.Contents ?? []) {
          if (object.Key) keys.push(object.Key.slice(prefix.length));
        }
        token = page.NextContinuationToken;
      } while (token);
      return keys;
    },
  };
}
