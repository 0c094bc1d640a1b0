import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

import { freePort } from "./ports.ts";

type KoaContext = { status: number; type: string; body: unknown };
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
type S3rverApp = {
  middleware: KoaMiddleware[];
  run(): Promise<unknown>;
  close(): Promise<void>;
};
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverApp;

export type S3Harness = AsyncDisposable & {
  endpoint: string;
  bucket: string;
  region: string;
  startupMs: number;
  credentials: { accessKeyId: string; secretAccessKey: string };
  client(): S3Client;
  getObjectBytes(key: string): Promise<Buffer>;
  listKeys(prefix?: string): Promise<string[]>;
  /** The next n requests answer 503 SlowDown, as S3 does when it throttles. */
  failNext(n: number): void;
  /** Every request answers 503 SlowDown for the next ms milliseconds. */
  failFor(ms: number): void;
  requestCount(): number;
  /** How many 503 SlowDown answers were served: proof that a throttling test throttled. */
  throttledCount(): number;
};

const SLOW_DOWN =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';

/** s3rver, a real S3 protocol server, on a free loopback port with one bucket. */
export async function startS3(options: { bucket?: string } = {}): Promise<S3Harness> {
  const started = Date.now();
  const S3rver = createRequire(import.meta.url)("s3rver") as S3rverConstructor;
  const directory = await mkdtemp(path.join(os.tmpdir(), "podmortem-s3-"));
  const port = await freePort();
  const bucket = options.bucket ?? "evidence";
  const region = "us-east-1";
  const credentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
  const server = new S3rver({ port, address: "127.0.0.1", directory, silent: true });
  let failuresLeft = 0;
  let failUntil = 0;
  let requests = 0;
  let throttled = 0;
  server.middleware.unshift(async (ctx, next) => {
    requests += 1;
    if (failuresLeft > 0 || Date.now() < failUntil) {
      failuresLeft = Math.max(0, failuresLeft - 1);
      throttled += 1;
      ctx.status = 503;
      ctx.type = "application/xml";
      ctx.body = SLOW_DOWN;
      return;
    }
    await next();
  });
  await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const makeClient = () =>
    new S3Client({ endpoint, region, credentials, forcePathStyle: true, maxAttempts: 1 });
  const admin = makeClient();
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));

  return {
    endpoint,
    bucket,
    region,
    startupMs: Date.now() - started,
    credentials,
    client: makeClient,
    async getObjectBytes(key) {
      const answer = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await answer.Body!.transformToByteArray());
    },
    async listKeys(prefix = "") {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await admin.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        keys.push(...(page.Contents ?? []).map((object) => object.Key!));
        token = page.NextContinuationToken;
      } while (token);
      return keys;
    },
    failNext: (n) => void (failuresLeft = n),
    failFor: (ms) => void (failUntil = Date.now() + ms),
    requestCount: () => requests,
    throttledCount: () => throttled,
    async [Symbol.asyncDispose]() {
      admin.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
