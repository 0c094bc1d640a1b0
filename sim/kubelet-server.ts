import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { pipeline } from "node:stream/promises";

import { bytesEntry, patternEntry, tarStream } from "./tar.ts";

export type LogOptions = { tailLines?: number; limitBytes?: number; timestamps?: boolean };

export type KubeletBackend = {
  /** The log of the current or the previous instance, or why there is none (status, message). */
  containerLog(
    namespace: string,
    pod: string,
    container: string,
    previous: boolean,
  ): { log: Buffer; startedAt: string } | { status: number; message: string };
  /** What a checkpoint needs of a running container; undefined when it is not running. */
  runningContainer(
    namespace: string,
    pod: string,
    container: string,
  ): { podUID: string; image: string; containerID: string } | undefined;
  /** Runs as a checkpoint request arrives, before the container is looked up. */
  beforeCheckpoint?(namespace: string, pod: string, container: string): Promise<void>;
};

export type KubeletServer = {
  port: number;
  checkpointRequests(): number;
  close(): Promise<void>;
};

/** The kubelet's shaping of a log: the last tailLines lines, then at most limitBytes bytes. */
export function shapeLog(log: Buffer, options: LogOptions, startedAt = ""): Buffer {
  if (!options.tailLines && !options.timestamps && !options.limitBytes) return log;
  let lines = log.toString("utf8").split("\n");
  const trailingNewline = lines.at(-1) === "";
  if (trailingNewline) lines.pop();
  if (options.tailLines !== undefined)
    lines = options.tailLines > 0 ? lines.slice(-options.tailLines) : [];
  if (options.timestamps) {
    // RFC3339Nano, one nanosecond apart, so a test can compute them too.
    const base = startedAt.replace(/(\.\d+)?Z$/, "");
    lines = lines.map((line, i) => `${base}.${String(i + 1).padStart(9, "0")}Z ${line}`);
  }
  let shaped = Buffer.from(lines.join("\n") + (trailingNewline && lines.length ? "\n" : ""));
  if (options.limitBytes !== undefined && options.limitBytes > 0)
    shaped = shaped.subarray(0, options.limitBytes);
  return shaped;
}

function numberParam(url: URL, name: string): number | undefined {
  const value = url.searchParams.get(name);
  return value === null || value === "" ? undefined : Number(value);
}

/**
 * The kubelet's HTTPS API on loopback: what the API server proxies `pods/log` to, and the
 * checkpoint endpoint (KEP-2008). Any bearer token or client certificate is accepted.
 */
export async function startKubeletServer(options: {
  certFile: string;
  keyFile: string;
  backend: KubeletBackend;
  checkpointDir: string;
  checkpointEnabled: boolean;
  checkpointBytes: number;
}): Promise<KubeletServer> {
  const { backend } = options;
  let checkpoints = 0;
  const [cert, key] = await Promise.all([readFile(options.certFile), readFile(options.keyFile)]);
  const server: Server = createServer({ cert, key, requestCert: true, rejectUnauthorized: false });

  type Reply = { status: number; body: string | Buffer; type?: string };
  const text = (status: number, body: string): Reply => ({ status, body });

  async function handle(method: string, rawUrl: string): Promise<Reply> {
    const url = new URL(rawUrl, "https://kubelet");
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (method === "GET" && (url.pathname === "/healthz" || url.pathname === "/readyz"))
      return text(200, "ok");
    if (method === "GET" && parts[0] === "containerLogs" && parts.length === 4) {
      const [, namespace, pod, container] = parts as [string, string, string, string];
      const found = backend.containerLog(
        namespace,
        pod,
        container,
        url.searchParams.get("previous") === "true",
      );
      if ("status" in found) return text(found.status, found.message);
      const shaped = shapeLog(
        found.log,
        {
          tailLines: numberParam(url, "tailLines"),
          limitBytes: numberParam(url, "limitBytes"),
          timestamps: url.searchParams.get("timestamps") === "true",
        },
        found.startedAt,
      );
      return { status: 200, body: shaped };
    }
    if (method === "POST" && parts[0] === "checkpoint" && parts.length === 4) {
      checkpoints += 1;
      const [, namespace, pod, container] = parts as [string, string, string, string];
      await backend.beforeCheckpoint?.(namespace, pod, container);
      const running = backend.runningContainer(namespace, pod, container);
      // A kubelet without the ContainerCheckpoint gate answers a plain 404 too.
      if (!options.checkpointEnabled || !running) return text(404, "404 page not found");
      const file = path.join(
        options.checkpointDir,
        `checkpoint-${pod}_${namespace}-${container}-${new Date().toISOString()}.tar`,
      );
      await pipeline(
        tarStream([
          bytesEntry(
            "config.dump",
            JSON.stringify({ id: running.containerID, rootfsImageName: running.image }),
          ),
          bytesEntry(
            "spec.dump",
            JSON.stringify({
              annotations: {
                "io.kubernetes.pod.name": pod,
                "io.kubernetes.pod.namespace": namespace,
                "io.kubernetes.pod.uid": running.podUID,
                "io.kubernetes.container.name": container,
              },
            }),
          ),
          patternEntry("checkpoint/pages-1.img", options.checkpointBytes),
        ]),
        createWriteStream(file, { mode: 0o600 }),
      );
      return {
        status: 200,
        body: JSON.stringify({ items: [file] }),
        type: "application/json",
      };
    }
    return text(404, "404 page not found");
  }

  server.on("request", (request, response) => {
    request.resume();
    handle(request.method ?? "GET", request.url ?? "/").then(
      ({ status, body, type }) => {
        response.writeHead(status, { "content-type": type ?? "text/plain; charset=utf-8" });
        response.end(body);
      },
      (error: unknown) => {
        response.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        response.end(String(error));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    checkpointRequests: () => checkpoints,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
