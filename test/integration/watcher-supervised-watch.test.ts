import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createLogger } from "../../src/logging.ts";
import {
  createSupervisedWatch,
  type WatchEventType,
} from "../../watcher/informers/supervised-watch.ts";
import { eventually } from "../harness/eventually.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRelay, throughRelay } from "./watcher-helpers.ts";

let cluster: KubeCluster;
let core: CoreV1Api;
const log = createLogger({ name: "watch-test", level: "silent" });

type Seen = { type: WatchEventType; name: string; fromList: boolean };

function recorder() {
  const seen: Seen[] = [];
  const listed: number[] = [];
  return {
    seen,
    listed,
    names: (type?: WatchEventType) =>
      seen.filter((s) => type === undefined || s.type === type).map((s) => s.name),
    handlers: {
      onObject(type: WatchEventType, raw: unknown, fromList: boolean) {
        const name = (raw as { metadata: { name: string } }).metadata.name;
        seen.push({ type, name, fromList });
      },
      onListed(uids: ReadonlySet<string>) {
        listed.push(uids.size);
      },
    },
  };
}

async function createConfigMap(namespace: string, name: string) {
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name } } });
}

beforeAll(async () => {
  cluster = await startKubeCluster();
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ["paged", "throws", "stall"])
    await core.createNamespace({ body: { metadata: { name } } });
}, 60_000);

afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
});

describe("the supervised watch", () => {
  it("lists page by page, then watches from the list's version", async () => {
    for (let i = 0; i < 23; i += 1) await createConfigMap("paged", `cm-${i}`);
    const record = recorder();
    const watch = createSupervisedWatch({
      kc: cluster.kubeConfig(),
      path: "/api/v1/namespaces/paged/configmaps",
      log,
      handlers: record.handlers,
      onReconnect: () => undefined,
      pageSize: 5,
    });
    await watch.start();
    expect(watch.isHealthy()).toBe(true);
    // 23 of ours and the namespace's kube-root-ca.crt, if the controller made it (no KCM here).
    expect(record.seen.filter((s) => s.fromList && s.name.startsWith("cm-"))).toHaveLength(23);
    expect(record.listed).toEqual([record.seen.length]);
    await createConfigMap("paged", "after-list");
    await eventually(async () => expect(record.names("ADDED")).toContain("after-list"), 10_000);
    expect(record.seen.find((s) => s.name === "after-list")?.fromList).toBe(false);
    await watch.stop();
    expect(watch.isHealthy()).toBe(false);
  });

  it("keeps delivering after a handler throws", async () => {
    const delivered: string[] = [];
    const watch = createSupervisedWatch({
      kc: cluster.kubeConfig(),
      path: "/api/v1/namespaces/throws/configmaps",
      log,
      handlers: {
        onObject(_type, raw) {
          const name = (raw as { metadata: { name: string } }).metadata.name;
          if (name.startsWith("bad")) throw new Error("handler bug");
          delivered.push(name);
        },
      },
      onReconnect: () => undefined,
    });
    await watch.start();
    await createConfigMap("throws", "bad-1");
    await createConfigMap("throws", "good-1");
    await eventually(async () => expect(delivered).toContain("good-1"), 10_000);
    expect(watch.isHealthy()).toBe(true);
    await watch.stop();
  });

  it("notices a silent connection, is not ready while the API server is unreachable, and loses nothing", async () => {
    const relay = await startRelay(new URL(cluster.kubeConfig().getCurrentCluster()!.server));
    const record = recorder();
    let reconnects = 0;
    const watch = createSupervisedWatch({
      kc: throughRelay(cluster.kubeConfig(), relay.port),
      path: "/api/v1/namespaces/stall/configmaps",
      log,
      handlers: record.handlers,
      onReconnect: () => (reconnects += 1),
      watchTimeoutS: 2,
      stallGraceMs: 1000,
      requestTimeoutMs: 1000,
      initialBackoffMs: 200,
      maxBackoffMs: 1000,
    });
    await watch.start();
    await createConfigMap("stall", "before");
    await eventually(async () => expect(record.names()).toContain("before"), 10_000);

    // The network goes silent: no reset, no FIN, nothing.
    relay.swallow();
    await createConfigMap("stall", "during");
    await eventually(async () => expect(watch.isHealthy()).toBe(false), 15_000, 100);
    expect(reconnects).toBeGreaterThanOrEqual(1);
    expect(record.names()).not.toContain("during");

    relay.heal();
    await createConfigMap("stall", "after");
    await eventually(async () => {
      expect(watch.isHealthy()).toBe(true);
      expect(record.names()).toEqual(expect.arrayContaining(["during", "after"]));
    }, 15_000);
    // Resumed from the last version seen: each object arrives once.
    for (const name of ["before", "during", "after"])
      expect(record.names("ADDED").filter((n) => n === name)).toHaveLength(1);
    await watch.stop();
    relay.close();
  }, 40_000);
});
