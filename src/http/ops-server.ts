import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

import { listen } from "./listen.ts";

export type OpsServerOptions = {
  port: number;
  host?: string;
  registry: Registry;
  /** Undefined when ready; otherwise why not, for the probe's body. */
  notReadyReason: () => string | undefined;
};

export type OpsServer = { port: number; close(): Promise<void> };

/** `/metrics`, `/healthz` and `/readyz`, the same on every podmortem process. */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      options.registry.metrics().then(
        (body) => {
          response.writeHead(200, { "content-type": options.registry.contentType });
          response.end(body);
        },
        () => {
          response.writeHead(500).end("metrics unavailable\n");
        },
      );
      return;
    }
    if (path === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/readyz") {
      const reason = options.notReadyReason();
      response
        .writeHead(reason === undefined ? 200 : 503, { "content-type": "text/plain" })
        .end(`${reason ?? "ok"}\n`);
      return;
    }
    response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  await listen(server, options.port, options.host ?? "0.0.0.0", "PODMORTEM_HTTP_PORT");
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
