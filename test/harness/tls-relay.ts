import { KubeConfig } from "@kubernetes/client-node";
import { readFileSync } from "node:fs";
import type { AddressInfo, Socket } from "node:net";
import tls from "node:tls";

import type { KubeCluster } from "./kube-cluster.ts";
import { splice } from "./splice.ts";

export type TlsRelay = AsyncDisposable & {
  /** https://127.0.0.1:<relay port> */
  server: string;
  /** TLS sessions clients opened at the relay: what the API server would have had to accept. */
  readonly sessions: number;
  /** The ALPN protocol of every session, in order (`h2`, `http/1.1`). */
  readonly protocols: readonly string[];
  /** An admin kubeconfig that reaches the API server only through the relay. */
  kubeConfig(): KubeConfig;
};

/**
 * A TLS-terminating TCP relay in front of the real API server: each client session is
 * terminated here (with a certificate of the cluster CA, so clients cannot tell) and carried on
 * its own TLS connection to the API server with the same ALPN protocol, so HTTP/2 and HTTP/1.1
 * pass through unchanged while every handshake is counted.
 */
export async function startTlsRelay(cluster: KubeCluster): Promise<TlsRelay> {
  const target = new URL(cluster.server);
  const protocols: string[] = [];
  const open = new Set<Socket>();
  const relay = tls.createServer(
    {
      cert: readFileSync(cluster.serverCertFile),
      key: readFileSync(cluster.serverKeyFile),
      ALPNProtocols: ["h2", "http/1.1"],
    },
    (client) => {
      const protocol = client.alpnProtocol || "http/1.1";
      protocols.push(protocol);
      const upstream = tls.connect({
        host: target.hostname,
        port: Number(target.port),
        ca: cluster.caPem,
        ALPNProtocols: [protocol],
      });
      splice(client, upstream, open);
    },
  );
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const server = `https://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  return {
    server,
    get sessions() {
      return protocols.length;
    },
    protocols,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "relay", server, caFile: cluster.caFile, skipTLSVerify: false }],
        users: [{ name: "admin", token: cluster.adminToken }],
        contexts: [{ name: "relay", cluster: "relay", user: "admin" }],
        currentContext: "relay",
      });
      return kc;
    },
    async [Symbol.asyncDispose]() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    },
  };
}
