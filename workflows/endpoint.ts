import * as restate from "@restatedev/restate-sdk";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";

import { PodmortemError } from "../src/errors.ts";

export type Endpoint = { port: number; close(): Promise<void> };

/** Serves Restate services over HTTP/2 on a server of our own, so shutdown can close it. */
export type ServiceDefinitions = restate.EndpointOptions["services"];

export async function serveEndpoint(
  services: ServiceDefinitions,
  options: { port: number; host?: string; identityKeys?: string[] | undefined },
): Promise<Endpoint> {
  const handler = restate.createEndpointHandler({
    services,
    ...(options.identityKeys?.length ? { identityKeys: options.identityKeys } : {}),
  });
  const server = http2.createServer(handler);
  const sessions = new Set<http2.Http2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new PodmortemError(
              "PREREQUISITE_MISSING",
              `port ${options.port} is already in use: stop what listens there or set PODMORTEM_ENDPOINT_PORT`,
              { cause: error },
            )
          : error,
      ),
    );
    server.listen(options.port, options.host ?? "0.0.0.0", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}
