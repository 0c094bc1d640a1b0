import { KubeConfig } from "@kubernetes/client-node";
import http from "node:http";
import type net from "node:net";
import { afterAll, describe, expect, it } from "vitest";

import { createLogger } from "../../../src/logging.ts";
import { createSupervisedWatch } from "../../../watcher/informers/supervised-watch.ts";
import { eventually } from "../../harness/eventually.ts";

const LINES = 20_000;
const PADDING = "x".repeat(5000);
const line = (n: number) =>
  `${JSON.stringify({
    type: "MODIFIED",
    object: { metadata: { uid: `u${n % 50}`, resourceVersion: String(n + 2) }, padding: PADDING },
  })}\n`;

let server: http.Server;
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

describe("a watch whose consumer is behind", () => {
  it("stops reading, so the server's bytes wait in flow control, and loses nothing once it catches up", async () => {
    let written = 0;
    let blocked = false;
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname === "/ping") {
        res.end(String(written));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      if (url.searchParams.get("watch") !== "true") {
        res.end(JSON.stringify({ metadata: { resourceVersion: "1" }, items: [] }));
        return;
      }
      if (url.searchParams.get("resourceVersion") !== "1") return; // a later watch: hang
      const pump = () => {
        while (written < LINES) {
          blocked = !res.write(line(written));
          written += 1;
          if (blocked) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "f", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "u" }],
      contexts: [{ name: "f", cluster: "f", user: "u" }],
      currentContext: "f",
    });
    let delivered = 0;
    let gate: PromiseWithResolvers<void> | undefined = Promise.withResolvers<void>();
    const watch = createSupervisedWatch({
      kc,
      path: "/api/v1/pods",
      log: createLogger({ name: "unit", level: "silent" }),
      onReconnect: () => undefined,
      handlers: {
        onObject: () => {
          delivered += 1;
        },
        whenCaughtUp: () => gate?.promise,
      },
    });
    await watch.start();
    try {
      // The first chunk is handled, then the watch waits for the consumer.
      await eventually(async () => expect(blocked && delivered > 0).toBe(true), 20_000, 10);
      const deliveredWhileHeld = delivered;
      // A barrier: round trips through the server's event loop, time enough to flush more if
      // the watcher were still reading.
      let atBarrier = "";
      for (let n = 0; n < 20; n += 1)
        atBarrier = await (await fetch(`http://127.0.0.1:${port}/ping`)).text();
      expect(blocked).toBe(true);
      expect(delivered).toBe(deliveredWhileHeld);
      // What the server got out is what the socket buffers hold: a few MB of the 100 MB.
      expect(Number(atBarrier) * line(0).length).toBeLessThan(16 * 1024 * 1024);
      gate.resolve();
      gate = undefined;
      await eventually(async () => expect(delivered).toBe(LINES), 60_000, 20);
    } finally {
      await watch.stop();
    }
  }, 90_000);
});
