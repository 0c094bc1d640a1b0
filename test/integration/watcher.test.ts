import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { mkdtemp } from "node:fs/promises";
import { Writable } from "node:stream";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createDirStore } from "../../src/evidence/dir-store.ts";
import { createKubeAccess } from "../../src/k8s/kube-access.ts";
import { createLogger } from "../../src/logging.ts";
import { createWatcherMetrics, type WatcherMetrics } from "../../watcher/metrics.ts";
import { createRestateLink } from "../../watcher/restate-link.ts";
import { createWatcher, type Watcher } from "../../watcher/watcher.ts";
import { createWorkflowMetrics } from "../../workflows/metrics.ts";
import { createServices } from "../../workflows/services.ts";
import { eventually } from "../harness/eventually.ts";
import { startFakeKubelet, type FakeKubelet, type Scenario } from "../harness/fake-kubelet.ts";
import { startKubeCluster, type KubeCluster } from "../harness/kube-cluster.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { incidentsFor, setConfig } from "./watcher-helpers.ts";

const CLUSTER = "watch";
const MAX_RESTARTS = 3;
let cluster: KubeCluster;
let kubelet: FakeKubelet;
let restate: RestateHarness;
let watcher: Watcher;
let metrics: WatcherMetrics;
let core: CoreV1Api;
/** Config polls answered: a later poll is the barrier for "nothing changed meanwhile". */
let configPolls = 0;
/** Every line the watcher logged (audit lines included), parsed. */
const logLines: Array<Record<string, unknown>> = [];
const logSink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString("utf8").split("\n"))
      if (line.trim() !== "") logLines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});

async function counter(name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ value: number; labels: Record<string, string> }>;
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

async function createNamespace(name: string, labels?: Record<string, string>) {
  await core.createNamespace({ body: { metadata: { name, ...(labels ? { labels } : {}) } } });
}

async function createPod(
  namespace: string,
  name: string,
  scenario: Scenario,
  spec: Partial<V1Pod["spec"]> = {},
) {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, annotations: { "fake-kubelet/scenario": scenario } },
      spec: { containers: [{ name: "app", image: "registry.example/app:1" }], ...spec },
    },
  });
}

beforeAll(async () => {
  cluster = await startKubeCluster();
  kubelet = await startFakeKubelet(cluster, {
    nodes: ["node-a"],
    restartIntervalMs: 700,
    maxRestarts: MAX_RESTARTS,
  });
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const evidence = await mkdtemp(path.join(os.tmpdir(), "podmortem-watch-evidence-"));
  restate = await startRestate({
    services: createServices({
      kube: createKubeAccess(cluster.kubeConfig()),
      store: createDirStore(evidence),
      metrics: createWorkflowMetrics(),
      evidencePrefix: undefined,
      identity: "test",
      version: "test",
    }),
  });
  await setConfig(restate, CLUSTER, { dedup: { cooldownS: 2 }, batch: { flushIntervalMs: 100 } });
  metrics = createWatcherMetrics();
  const link = createRestateLink({
    ingressUrl: restate.ingressUrl,
    authToken: undefined,
    requestTimeoutMs: 5000,
  });
  watcher = createWatcher({
    kc: cluster.kubeConfig(),
    link: {
      ...link,
      getConfig: async (...args) => {
        const answer = await link.getConfig(...args);
        configPolls += 1;
        return answer;
      },
    },
    log: createLogger({ name: "watcher-test", level: "info" }, logSink),
    metrics,
    clusterName: CLUSTER,
    identity: "test-watcher",
    configPollIntervalMs: 300,
  });
  await watcher.start({ clusterUID: "uid", kubernetesVersion: "v1.20.2", watcherVersion: "test" });
}, 120_000);

afterAll(async () => {
  await watcher?.stop(2000);
  await restate?.[Symbol.asyncDispose]();
  await kubelet?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
});

describe("the watcher against a real API server", () => {
  it("detects every failure reason, each container and occurrence counted once", async () => {
    await createNamespace("reasons");
    const scenarios: Scenario[] = [
      "crashloop",
      "oomkilled",
      "imagepullbackoff",
      "createcontainererror",
      "evicted",
    ];
    for (const scenario of scenarios) await createPod("reasons", scenario, scenario);
    await createPod("reasons", "init-crash", "init-crash", {
      initContainers: [{ name: "migrate", image: "registry.example/migrate:1" }],
    });
    await createPod("reasons", "multi-container", "multi-container", {
      containers: [
        { name: "app", image: "registry.example/app:1" },
        { name: "sidecar", image: "registry.example/sidecar:1" },
      ],
    });

    const found = await eventually(async () => {
      const all = await incidentsFor(restate, CLUSTER, "reasons");
      const reasons = all.map((i) => `${i.lastEvent.pod}/${i.container}:${i.reason}`).sort();
      expect(reasons).toEqual([
        "crashloop/app:Error",
        "createcontainererror/app:CreateContainerError",
        "evicted/app:Evicted",
        "imagepullbackoff/app:ImagePullBackOff",
        "init-crash/migrate:Error",
        "multi-container/sidecar:Error",
        "oomkilled/app:OOMKilled",
      ]);
      // Every crash of the crash-looping containers arrives, folded or not.
      for (const incident of all.filter((i) => i.exitCode !== null && i.reason !== "Evicted")) {
        expect(incident.occurrences).toBe(MAX_RESTARTS);
      }
      return all;
    }, 45_000);
    // One audit line per event with its decision, payload hash and, when sent, the batch key.
    const audits = logLines.filter(
      (line) => line.audit === "pod-event" && line.namespace === "reasons",
    );
    for (const incident of found) {
      const sent = audits.find(
        (line) => line.decision === "sent" && line.eventId === incident.lastEvent.id,
      );
      expect(sent).toMatchObject({
        payloadSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        idempotencyKey: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
    }
    expect(audits.filter((line) => line.decision === "deduped").length).toBe(
      await counter("forensics_watcher_events_deduped_total"),
    );
    const init = found.find((i) => i.container === "migrate")!;
    expect(init.lastEvent.containerType).toBe("init");
    const oom = found.find((i) => i.reason === "OOMKilled")!;
    expect(oom.lastEvent).toMatchObject({ exitCode: 137, signal: 9 });
    expect(await counter("forensics_watcher_events_deduped_total")).toBeGreaterThan(0);
  });

  it("follows namespaces that gain and lose a label, without a restart", async () => {
    await setConfig(restate, CLUSTER, {
      dedup: { cooldownS: 0 },
      batch: { flushIntervalMs: 100 },
      namespaces: { mode: "label", selector: "podmortem=on" },
    });
    await eventually(async () => expect(watcher.config.namespaces.mode).toBe("label"), 10_000);
    await createNamespace("unlabelled");
    await createNamespace("labelled", { podmortem: "on" });
    await createPod("unlabelled", "ignored", "oomkilled");
    await createPod("labelled", "watched", "oomkilled");
    await eventually(
      async () => expect(await incidentsFor(restate, CLUSTER, "labelled")).toHaveLength(1),
      30_000,
    );
    expect(await incidentsFor(restate, CLUSTER, "unlabelled")).toHaveLength(0);

    await core.patchNamespace(
      { name: "unlabelled", body: { metadata: { labels: { podmortem: "on" } } } },
      // merge patch: the default for a plain object body is JSON Patch
      (await import("@kubernetes/client-node")).setHeaderOptions(
        "Content-Type",
        "application/merge-patch+json",
      ),
    );
    await eventually(
      async () => expect(await incidentsFor(restate, CLUSTER, "unlabelled")).toHaveLength(1),
      30_000,
    );

    await core.patchNamespace(
      { name: "labelled", body: { metadata: { labels: { podmortem: "off" } } } },
      (await import("@kubernetes/client-node")).setHeaderOptions(
        "Content-Type",
        "application/merge-patch+json",
      ),
    );
    await eventually(async () => expect(watcher.stats().watches).toBe(1), 10_000);
    await createPod("labelled", "after-unlabel", "imagepullbackoff");
    // The barrier: a failure created after it, in a namespace still watched, must arrive.
    await kubelet.settle();
    await createPod("unlabelled", "barrier", "imagepullbackoff");
    await eventually(
      async () =>
        expect(await incidentsFor(restate, CLUSTER, "unlabelled", "barrier")).toHaveLength(1),
      30_000,
    );
    expect(await incidentsFor(restate, CLUSTER, "labelled", "after-unlabel")).toHaveLength(0);
  });

  it("watches only the listed namespaces, never an excluded one, and switches back live", async () => {
    await createNamespace("listed");
    await createNamespace("unlisted");
    await createNamespace("excluded");
    await setConfig(restate, CLUSTER, {
      dedup: { cooldownS: 0 },
      batch: { flushIntervalMs: 100 },
      namespaces: { mode: "list", list: ["listed", "excluded"], exclude: ["excluded"] },
    });
    await eventually(async () => expect(watcher.config.namespaces.mode).toBe("list"), 10_000);
    await eventually(async () => expect(watcher.stats().watches).toBe(1), 10_000);
    for (const namespace of ["listed", "unlisted", "excluded"])
      await createPod(namespace, "oom", "oomkilled");
    // The barrier: a failure created after the others, in the listed namespace, must arrive.
    await kubelet.settle();
    await createPod("listed", "barrier", "imagepullbackoff");
    await eventually(async () => {
      const listed = await incidentsFor(restate, CLUSTER, "listed");
      expect(listed.map((i) => i.lastEvent.pod).sort()).toEqual(["barrier", "oom"]);
    }, 30_000);
    expect(await incidentsFor(restate, CLUSTER, "unlisted")).toHaveLength(0);
    expect(await incidentsFor(restate, CLUSTER, "excluded")).toHaveLength(0);

    // Back to all namespaces but one excluded: the failure nobody had seen yet is found.
    await setConfig(restate, CLUSTER, {
      dedup: { cooldownS: 0 },
      batch: { flushIntervalMs: 100 },
      namespaces: { mode: "all", exclude: ["unlisted"] },
    });
    await eventually(
      async () => expect(await incidentsFor(restate, CLUSTER, "excluded")).toHaveLength(1),
      30_000,
    );
    expect(await incidentsFor(restate, CLUSTER, "unlisted")).toHaveLength(0);
    // The listed pod's crash loop went on through the switch: every crash counted once.
    await eventually(async () => {
      const [listed] = await incidentsFor(restate, CLUSTER, "listed", "oom");
      expect(listed?.occurrences).toBe(kubelet.restartCount("listed", "oom", "app"));
      expect(listed?.occurrences).toBe(MAX_RESTARTS);
    }, 30_000);
  });

  it("loses and doubles nothing across an API server restart", async () => {
    await setConfig(restate, CLUSTER, { dedup: { cooldownS: 0 }, batch: { flushIntervalMs: 100 } });
    await eventually(async () => expect(watcher.config.namespaces.mode).toBe("all"), 10_000);
    await createNamespace("restart");
    await createPod("restart", "crasher", "crashloop");
    await eventually(
      async () =>
        expect(kubelet.restartCount("restart", "crasher", "app")).toBeGreaterThanOrEqual(1),
      10_000,
    );
    const reconnects = await counter("forensics_watcher_reconnects_total");
    await cluster.restartApiServer();
    await eventually(async () => {
      const [incident] = await incidentsFor(restate, CLUSTER, "restart", "crasher");
      expect(incident?.occurrences).toBe(MAX_RESTARTS);
    }, 40_000);
    expect(await counter("forensics_watcher_reconnects_total")).toBeGreaterThan(reconnects);
    // The barrier: a failure after the relist must arrive; the count has not moved meanwhile.
    await createPod("restart", "barrier", "imagepullbackoff");
    await eventually(
      async () =>
        expect(await incidentsFor(restate, CLUSTER, "restart", "barrier")).toHaveLength(1),
      30_000,
    );
    const [incident] = await incidentsFor(restate, CLUSTER, "restart", "crasher");
    expect(incident?.occurrences).toBe(MAX_RESTARTS);
  });

  it("delivers everything after a Restate outage, counted once", async () => {
    await createNamespace("outage");
    await restate.stopServer("SIGKILL");
    await createPod("outage", "during", "crashloop");
    // The outage lasts until every crash has happened and the watcher has failed to send them
    // more than once (its retries back off), so all of them wait in its queue.
    await eventually(async () => {
      expect(kubelet.restartCount("outage", "during", "app")).toBe(MAX_RESTARTS);
      expect(
        await counter("forensics_watcher_batches_sent_total", { outcome: "error" }),
      ).toBeGreaterThan(2);
    }, 60_000);
    await restate.startServer();
    await eventually(async () => {
      const [incident] = await incidentsFor(restate, CLUSTER, "outage", "during");
      expect(incident?.occurrences).toBe(MAX_RESTARTS);
    }, 40_000);
    expect(watcher.stats().queue).toBe(0);
  }, 120_000);

  it("applies a config change live, and keeps the old one when the new one is bad", async () => {
    await setConfig(restate, CLUSTER, {
      dedup: { cooldownS: 0 },
      batch: { flushIntervalMs: 100 },
      detection: { reasons: ["Error"] },
    });
    await eventually(
      async () => expect(watcher.config.detection.reasons).not.toContain("OOMKilled"),
      10_000,
    );
    await createNamespace("live");
    const filteredBefore = await counter("forensics_watcher_events_total", { type: "filtered" });
    await createPod("live", "oom-ignored", "oomkilled");
    await eventually(
      async () =>
        expect(
          await counter("forensics_watcher_events_total", { type: "filtered" }),
        ).toBeGreaterThan(filteredBefore),
      15_000,
    );
    expect(await incidentsFor(restate, CLUSTER, "live")).toHaveLength(0);

    // The backend refuses a bad document itself...
    const version = watcher.configVersion!;
    const bad = await fetch(`${restate.ingressUrl}/Cluster/${CLUSTER}/setConfig`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ config: { batch: { maxEvents: 0 } } }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("batch.maxEvents");

    // ...and the watcher validates again: a bad document that reached the state anyway (an
    // older backend, an operator editing state through the admin API) is refused, logged once.
    const rows = await restate.query<{ key: string; value_utf8: string }>(
      `SELECT key, value_utf8 FROM state WHERE service_name = 'Cluster' AND service_key = '${CLUSTER}'`,
    );
    const newState = Object.fromEntries(
      rows.map((row) => {
        let value = row.value_utf8;
        if (row.key === "config") {
          const record = JSON.parse(value) as { version: number; config: Record<string, unknown> };
          record.version = version + 1;
          record.config = { ...record.config, batch: { maxEvents: 0, flushIntervalMs: -5 } };
          value = JSON.stringify(record);
        }
        return [row.key, Array.from(Buffer.from(value))];
      }),
    );
    const edited = await fetch(`${restate.adminUrl}/services/Cluster/state`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ object_key: CLUSTER, new_state: newState }),
    });
    expect(edited.status).toBeLessThan(300);
    const refusals = () =>
      logLines.filter((line) => line.msg === "refused remote config; keeping the old one");
    await eventually(async () => expect(refusals()).toHaveLength(1), 10_000);
    expect(String(refusals()[0]!.problems)).toContain("batch.maxEvents");
    expect(String(refusals()[0]!.problems)).toContain("batch.flushIntervalMs");
    // Three more polls meet the bad document again: still the old config, still one log line.
    const pollsAtRefusal = configPolls;
    await eventually(
      async () => expect(configPolls).toBeGreaterThanOrEqual(pollsAtRefusal + 3),
      10_000,
      50,
    );
    expect(refusals()).toHaveLength(1);
    expect(watcher.configVersion).toBe(version);
    expect(watcher.config.batch.maxEvents).toBeGreaterThan(0);
    expect(watcher.config.detection.reasons).toEqual(["Error"]);

    // A good document after it applies as usual.
    const fixed = await setConfig(restate, CLUSTER, { dedup: { cooldownS: 0 } });
    await eventually(async () => expect(watcher.configVersion).toBe(fixed), 10_000);
    expect(watcher.config.detection.reasons).toContain("OOMKilled");
  });
});
