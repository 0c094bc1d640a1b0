import { KubeConfig } from "@kubernetes/client-node";
import http from "node:http";
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";

import { createLogger } from "../../../src/logging.ts";
import {
  createSupervisedWatch,
  type SupervisedWatch,
  type WatchEventType,
} from "../../../watcher/informers/supervised-watch.ts";
import { eventually } from "../../harness/eventually.ts";

// Like client-go's reflector tests: a small API server on loopback that answers each list and
// watch request from a script, so every branch of list → watch → relist is driven on purpose.

type Pod = { metadata: { name: string; uid: string; resourceVersion: string } };
const pod = (name: string, rv: number): Pod => ({
  metadata: { name, uid: `uid-${name}`, resourceVersion: String(rv) },
});

type Request = { url: URL; res: http.ServerResponse; socket: net.Socket };
type Script = {
  list(request: Request, count: number): void;
  watch(request: Request, count: number): void;
};

const log = createLogger({ name: "watch-unit", level: "silent" });
const servers: http.Server[] = [];
const watches: SupervisedWatch[] = [];

afterEach(async () => {
  for (const watch of watches.splice(0)) await watch.stop();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function fakeApiServer(script: Script) {
  const lists: URL[] = [];
  const watchUrls: URL[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const request = { url, res, socket: req.socket };
    if (url.searchParams.get("watch") === "true") {
      watchUrls.push(url);
      script.watch(request, watchUrls.length);
    } else {
      lists.push(url);
      script.list(request, lists.length);
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "fake", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "nobody" }],
    contexts: [{ name: "fake", cluster: "fake", user: "nobody" }],
    currentContext: "fake",
  });
  return { kc, lists, watchUrls };
}

function page(res: http.ServerResponse, items: Pod[], rv: number, next?: string) {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      kind: "PodList",
      metadata: { resourceVersion: String(rv), ...(next ? { continue: next } : {}) },
      items,
    }),
  );
}

function gone(res: http.ServerResponse) {
  res.writeHead(410, { "content-type": "application/json" });
  res.end(JSON.stringify({ kind: "Status", code: 410, reason: "Expired" }));
}

function openStream(res: http.ServerResponse) {
  res.writeHead(200, { "content-type": "application/json" });
  res.flushHeaders();
}

const line = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;
/** A watch that stays open and says nothing: what a healthy, quiet watch looks like. */
const hold = () => undefined;

function recorder() {
  const seen: Array<{ type: WatchEventType; name: string; fromList: boolean }> = [];
  const listed: string[][] = [];
  let reconnects = 0;
  return {
    seen,
    listed,
    reconnects: () => reconnects,
    names: (fromList?: boolean) =>
      seen.filter((s) => fromList === undefined || s.fromList === fromList).map((s) => s.name),
    options: {
      handlers: {
        onObject(type: WatchEventType, raw: unknown, fromList: boolean) {
          seen.push({ type, name: (raw as Pod).metadata.name, fromList });
        },
        onListed(uids: ReadonlySet<string>) {
          listed.push([...uids].sort());
        },
      },
      onReconnect: () => (reconnects += 1),
    },
  };
}

function start(kc: KubeConfig, record: ReturnType<typeof recorder>, extra = {}) {
  const watch = createSupervisedWatch({
    kc,
    path: "/api/v1/pods",
    log,
    pageSize: 2,
    initialBackoffMs: 20,
    maxBackoffMs: 50,
    ...record.options,
    ...extra,
  });
  watches.push(watch);
  return watch;
}

describe("the supervised watch's list → watch → relist state machine", () => {
  it("pages the list again from the start when a continue token expires (410), never ending it half-done", async () => {
    const api = await fakeApiServer({
      list({ url, res }, count) {
        const token = url.searchParams.get("continue");
        if (count === 2) return gone(res); // the first list's token has expired
        if (token === null) return page(res, [pod("a", 5), pod("b", 6)], 10, `t${count}`);
        return page(res, [pod("c", 7)], 10);
      },
      watch: hold,
    });
    const record = recorder();
    const watch = start(api.kc, record);
    await watch.start();
    expect(api.lists.map((u) => u.searchParams.get("continue"))).toEqual([null, "t1", null, "t3"]);
    // One complete set, after the whole list: the half list before the 410 wiped nothing.
    expect(record.listed).toEqual([["uid-a", "uid-b", "uid-c"]]);
    expect(record.names(true)).toEqual(["a", "b", "a", "b", "c"]);
    await eventually(async () => expect(api.watchUrls).toHaveLength(1));
    expect(api.watchUrls[0]!.searchParams.get("resourceVersion")).toBe("10");
    expect(watch.isHealthy()).toBe(true);
  });

  it("relists on an ERROR 410 in the watch and watches from the new list's version", async () => {
    const api = await fakeApiServer({
      list({ res }, count) {
        if (count === 1) return page(res, [pod("a", 5)], 10);
        return page(res, [pod("a", 5), pod("d", 21)], 30);
      },
      watch({ res }, count) {
        if (count > 1) return;
        openStream(res);
        res.write(line("ADDED", pod("d", 21)));
        res.end(line("ERROR", { kind: "Status", code: 410, reason: "Expired" }));
      },
    });
    const record = recorder();
    const watch = start(api.kc, record);
    await watch.start();
    await eventually(async () => expect(api.watchUrls).toHaveLength(2));
    expect(api.watchUrls.map((u) => u.searchParams.get("resourceVersion"))).toEqual(["10", "30"]);
    expect(record.listed).toEqual([["uid-a"], ["uid-a", "uid-d"]]);
    expect(record.names(false)).toEqual(["d"]);
    expect(record.reconnects()).toBe(1);
  });

  it("restarts a watch that goes silent past the server's timeout, from the last version seen", async () => {
    const api = await fakeApiServer({
      list: ({ res }) => page(res, [pod("a", 5)], 10),
      watch({ res }, count) {
        openStream(res);
        // The first watch delivers one event, then nothing: no close, no byte, a dead peer.
        if (count === 1) res.write(line("MODIFIED", pod("a", 11)));
      },
    });
    const record = recorder();
    const watch = start(api.kc, record, { watchTimeoutS: 1, stallGraceMs: 300 });
    await watch.start();
    await eventually(async () => expect(api.watchUrls).toHaveLength(2), 5000, 50);
    expect(api.watchUrls.map((u) => u.searchParams.get("resourceVersion"))).toEqual(["10", "11"]);
    expect(api.lists).toHaveLength(1); // a stall is resumed, not relisted
    expect(record.reconnects()).toBe(1);
    expect(watch.isHealthy()).toBe(true);
  });

  it("skips an unreadable line and goes on with the next event on the same connection", async () => {
    const api = await fakeApiServer({
      list: ({ res }) => page(res, [], 10),
      watch({ res }, count) {
        if (count > 1) return;
        openStream(res);
        res.write(line("ADDED", pod("before", 11)));
        res.write('{"type":"ADDED","object":{"metadata":\n');
        res.write(line("ADDED", pod("after", 12)));
      },
    });
    const record = recorder();
    const watch = start(api.kc, record);
    await watch.start();
    await eventually(async () => expect(record.names(false)).toEqual(["before", "after"]));
    expect(api.watchUrls).toHaveLength(1);
    expect(record.reconnects()).toBe(0);
  });

  it("resumes from the last version seen after the connection is reset, losing nothing", async () => {
    const api = await fakeApiServer({
      list: ({ res }) => page(res, [pod("a", 5)], 10),
      watch({ res, socket }, count) {
        openStream(res);
        if (count === 1) {
          res.write(line("ADDED", pod("b", 11)), () => socket.destroy());
        } else if (count === 2) {
          res.write(line("ADDED", pod("c", 12)));
        }
      },
    });
    const record = recorder();
    const watch = start(api.kc, record);
    await watch.start();
    await eventually(async () => expect(record.names(false)).toEqual(["b", "c"]));
    expect(api.watchUrls.map((u) => u.searchParams.get("resourceVersion"))).toEqual(["10", "11"]);
    expect(api.lists).toHaveLength(1);
    expect(record.reconnects()).toBe(1);
  });

  it("backs off and lists again when a list page fails, and is not healthy meanwhile", async () => {
    const api = await fakeApiServer({
      list({ res }, count) {
        if (count === 1) {
          res.writeHead(503, { "content-type": "application/json" });
          return res.end('{"kind":"Status","code":503}');
        }
        return page(res, [pod("a", 5)], 10);
      },
      watch: hold,
    });
    const record = recorder();
    const watch = start(api.kc, record);
    await watch.start();
    expect(watch.isHealthy()).toBe(false);
    await eventually(async () => expect(record.listed).toEqual([["uid-a"]]));
    expect(watch.isHealthy()).toBe(true);
    expect(api.lists).toHaveLength(2);
  });
});
