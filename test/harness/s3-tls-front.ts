import { S3Client } from "@aws-sdk/client-s3";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";

import { generateClusterCertificates } from "./kube-certs.ts";
import type { S3Harness } from "./s3-server.ts";
import { splice } from "./splice.ts";

export type S3TlsFront = AsyncDisposable & {
  /** https://127.0.0.1:<front port>: S3 over TLS, as a real S3 endpoint is reached. */
  endpoint: string;
  /** The throwaway CA that signed the front's certificate (PEM file), for clients to trust. */
  caFile: string;
  /** TLS sessions clients opened: each is a handshake a real S3 endpoint would have served. */
  readonly sessions: number;
  /** A client of the S3 server through the front, trusting exactly the front's CA. */
  client(options?: { maxSockets?: number }): S3Client;
};

/**
 * A TLS-terminating front for the S3 server: each client session is decrypted here, with a
 * certificate of a CA made for this front, and its bytes carried on to the plain S3 server, so
 * a client pays what it would pay against an HTTPS endpoint (handshakes, record encryption,
 * its own TLS buffers). Clients trust the CA through their https agent; nothing turns
 * verification off.
 */
export async function startS3TlsFront(s3: S3Harness): Promise<S3TlsFront> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "podmortem-s3-tls-"));
  const certificates = await generateClusterCertificates(dir);
  const [cert, key, ca] = await Promise.all(
    [certificates.serverCert, certificates.serverKey, certificates.caCert].map((file) =>
      readFile(file),
    ),
  );
  const target = new URL(s3.endpoint);
  const open = new Set<net.Socket>();
  let sessions = 0;
  const front = tls.createServer({ cert, key, ALPNProtocols: ["http/1.1"] }, (client) => {
    sessions += 1;
    const upstream = net.connect({ host: target.hostname, port: Number(target.port) });
    splice(client, upstream, open);
  });
  await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
  const endpoint = `https://127.0.0.1:${(front.address() as AddressInfo).port}`;
  const clients: S3Client[] = [];
  return {
    endpoint,
    caFile: certificates.caCert,
    get sessions() {
      return sessions;
    },
    client(options = {}) {
      const client = new S3Client({
        endpoint,
        region: s3.region,
        credentials: s3.credentials,
        forcePathStyle: true,
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: 1,
        requestHandler: {
          httpsAgent: new https.Agent({
            keepAlive: true,
            ca,
            ...(options.maxSockets ? { maxSockets: options.maxSockets } : {}),
          }),
        },
      });
      clients.push(client);
      return client;
    },
    async [Symbol.asyncDispose]() {
      for (const client of clients) client.destroy();
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
