import * as restate from "@restatedev/restate-sdk";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";

import { listen } from "../src/http/listen.ts";

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
  await listen(server, options.port, options.host ?? "0.0.0.0", "PODMORTEM_ENDPOINT_PORT");
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}
