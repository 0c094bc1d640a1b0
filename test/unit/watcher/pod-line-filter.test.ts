import { describe, expect, it } from "vitest";

import { createLogger } from "../../../src/logging.ts";
import type { PodEvent } from "../../../src/model/pod-event.ts";
import { defaultRemoteConfig, toWatcherConfig } from "../../../src/model/remote-config.ts";
import { createPodLineFilter } from "../../../watcher/informers/pod-line-filter.ts";
import { statusFingerprint } from "../../../watcher/informers/slim-pod.ts";
import { createWatcherMetrics } from "../../../watcher/metrics.ts";
import type { Batcher } from "../../../watcher/pipeline/batcher.ts";
import { createOwnerResolver } from "../../../watcher/pipeline/owner-resolver.ts";
import { createPodPipeline } from "../../../watcher/pod-pipeline.ts";
import { rawPod } from "../../bench/synthetic-pods.ts";

/** mulberry32: a seeded generator, so a failing case can be replayed from its seed. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}
type Random = ReturnType<typeof random>;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * JSON as any conforming encoder may write it: keys in any order, spaces anywhere between
 * tokens, characters of keys and strings escaped, now and then a key written twice (the last
 * one counts).
 */
function encode(value: Json, r: Random, noisy: boolean): string {
  const space = () => (noisy && r.chance(0.02) ? r.pick([" ", "\t", "  ", "\r"]) : "");
  const string = (text: string) => {
    if (!noisy || !r.chance(0.002) || text.length === 0) return JSON.stringify(text);
    const at = r.int(text.length);
    const escaped = `\\u${text.charCodeAt(at).toString(16).padStart(4, "0")}`;
    return `"${JSON.stringify(text.slice(0, at)).slice(1, -1)}${escaped}${JSON.stringify(text.slice(at + 1)).slice(1, -1)}"`;
  };
  if (value === null || typeof value !== "object") {
    return typeof value === "string" ? string(value) : JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${space()}${value.map((item) => encode(item, r, noisy)).join(`${space()},${space()}`)}${space()}]`;
  }
  let keys = Object.keys(value);
  if (noisy && r.chance(0.05)) keys = [...keys].sort(() => r.next() - 0.5);
  const members = keys.map(
    (key) => `${string(key)}${space()}:${space()}${encode(value[key]!, r, noisy)}`,
  );
  if (noisy && r.chance(0.005) && keys.length > 0) {
    // A stale copy of a member first: JSON.parse keeps the later one.
    const key = r.pick(keys);
    members.unshift(`${JSON.stringify(key)}:${JSON.stringify({ stale: true })}`);
  }
  return `{${space()}${members.join(`${space()},${space()}`)}${space()}}`;
}

type Pod = ReturnType<typeof rawPod> & { status: Record<string, Json> };
type ContainerStatus = Record<string, Json> & {
  name: string;
  restartCount: number;
  state: Record<string, Json>;
};

const REASONS = ["Error", "OOMKilled", "Completed", "ContainerStatusUnknown", "Killed"];
const WAITING = ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "ContainerCreating"];

function statuses(pod: Pod, group: string): ContainerStatus[] {
  const list = (pod.status[group] ??= []) as ContainerStatus[];
  if (list.length === 0)
    list.push({
      name: `${group.slice(0, 4)}-${list.length}`,
      image: "registry.example/app:1",
      imageID: "registry.example/app@sha256:00",
      ready: true,
      restartCount: 0,
      state: { running: { startedAt: "2026-11-22T10:00:00Z" } },
    });
  return list;
}

/** One random change: mostly churn that detection ignores, sometimes what it reads. */
function mutate(pod: Pod, r: Random, clock: { s: number }): void {
  clock.s += 1;
  const stamp = new Date(Date.UTC(2026, 10, 22, 10, 0, clock.s)).toISOString().replace(".000", "");
  const meta = pod.metadata as unknown as Record<string, Json>;
  const group = r.pick([
    "containerStatuses",
    "containerStatuses",
    "initContainerStatuses",
    "ephemeralContainerStatuses",
  ]);
  const list = statuses(pod, group);
  const container = r.pick(list);
  switch (r.int(14)) {
    case 0:
    case 1:
    case 2: {
      const conditions = pod.status.conditions as Array<Record<string, Json>>;
      r.pick(conditions).lastTransitionTime = stamp;
      break;
    }
    case 3:
      (meta.labels as Record<string, Json>)[`churn-${r.int(3)}`] = stamp;
      break;
    case 4:
      pod.status.podIP = `10.0.${r.int(255)}.${r.int(255)}`;
      break;
    case 5: // a crash: the kubelet restarts the container
      container.lastState = {
        terminated: {
          exitCode: r.pick([0, 1, 2, 137, 143]),
          reason: r.pick(REASONS),
          message: r.chance(0.3) ? `died "badly" at ${stamp}\n` : "",
          startedAt: stamp,
          finishedAt: stamp,
          containerID: `containerd://${clock.s}`,
        },
      };
      container.restartCount += 1;
      container.state = { waiting: { reason: "CrashLoopBackOff", message: "back-off" } };
      break;
    case 6:
      container.state = {
        terminated: {
          exitCode: r.pick([0, 1, 137]),
          reason: r.pick(REASONS),
          startedAt: stamp,
          finishedAt: stamp,
        },
      };
      break;
    case 7:
      container.state = { waiting: { reason: r.pick(WAITING), message: `at ${stamp}` } };
      break;
    case 8:
      container.state = { running: { startedAt: stamp } };
      break;
    case 9:
      container.ready = !container.ready;
      break;
    case 10:
      if (r.chance(0.5)) {
        pod.status.phase = "Failed";
        pod.status.reason = "Evicted";
        pod.status.message = `The node was low on memory at ${stamp}.`;
      } else {
        pod.status.phase = r.pick(["Running", "Pending", "Succeeded"]);
        delete pod.status.reason;
      }
      break;
    case 11:
      list.push({ ...structuredClone(container), name: `${container.name}-${clock.s}` });
      break;
    case 12:
      if (list.length > 1) list.splice(r.int(list.length), 1);
      else delete pod.status[group];
      break;
    default:
      container.image = `registry.example/app:${clock.s}`;
  }
}

function newPod(n: number): Pod {
  const pod = structuredClone(rawPod(n)) as Pod;
  // Bare pods: the workload is known at once, so both pipelines below run synchronously.
  delete (pod.metadata as { ownerReferences?: unknown }).ownerReferences;
  return pod;
}

function pipelineUnderTest() {
  const queued: PodEvent[] = [];
  const audited: string[] = [];
  const batcher = { add: (event: PodEvent) => queued.push(event) } as unknown as Batcher;
  const pipeline = createPodPipeline({
    cluster: "c",
    batcher,
    resolver: createOwnerResolver(() => Promise.reject(new Error("bare pods have no owner"))),
    metrics: createWatcherMetrics(),
    audit: (decision, event) => audited.push(`${decision}:${event.id}:${event.suppressed}`),
    log: createLogger({ name: "unit", level: "silent" }),
    now: () => 1_800_000_000_000,
    config: () => toWatcherConfig(defaultRemoteConfig()),
  });
  return { pipeline, queued, audited };
}

describe("the pod line filter", () => {
  it("skips only lines whose detection-relevant fields did not change: over random pod mutations every change is parsed and handled as if every line were", () => {
    let skipped = 0;
    let parsedModified = 0;
    let relists = 0;
    let skippedAfterSeeding = 0;
    for (let seed = 1; seed <= 12; seed += 1) {
      const r = random(seed);
      const clock = { s: 0 };
      const pods = Array.from({ length: 4 }, (_, n) => newPod(seed * 10 + n));
      const alive = new Set(pods.map((pod) => pod.metadata.uid));
      const filter = createPodLineFilter();
      const lastParsedPrint = new Map<string, string>();
      const seeded = new Set<string>();
      const filtered = pipelineUnderTest();
      const everyLine = pipelineUnderTest();
      let rv = 1000;
      for (let step = 0; step < 200; step += 1) {
        const pod = r.pick(pods);
        const uid = pod.metadata.uid;
        let type = r.chance(0.03) ? "DELETED" : r.chance(0.03) ? "ADDED" : "MODIFIED";
        if (!alive.has(uid)) type = "ADDED";
        if (type === "MODIFIED") for (let k = 1 + r.int(2); k > 0; k -= 1) mutate(pod, r, clock);
        pod.metadata.resourceVersion = String((rv += 1));
        if (type === "DELETED") alive.delete(uid);
        else alive.add(uid);
        const line = encode({ type, object: pod as unknown as Json }, r, r.chance(0.3));
        const bytes = Buffer.from(`  ${line}\n`);
        const event = JSON.parse(line) as { type: "ADDED" | "MODIFIED" | "DELETED"; object: Pod };
        const inspection = filter.inspect(bytes, 2, bytes.length - 1);
        if (inspection)
          expect(inspection.resourceVersion).toBe(event.object.metadata.resourceVersion);
        const print = statusFingerprint(event.object);
        if (inspection?.unchanged && seeded.has(uid)) skippedAfterSeeding += 1;
        seeded.delete(uid);
        if (inspection?.unchanged) {
          skipped += 1;
          // Nothing detection reads changed since the last line handled for this pod.
          expect(print).toBe(lastParsedPrint.get(uid));
        } else {
          if (type === "MODIFIED") parsedModified += 1;
          filtered.pipeline.handle(event.type, event.object);
          lastParsedPrint.set(uid, print);
        }
        everyLine.pipeline.handle(event.type, event.object);
        if (r.chance(0.03)) {
          // A relist, as the watch makes one: each listed pod handed to both pipelines, the
          // page's bytes seed the filter, then what the list did not hold is forgotten.
          const listedPods = pods.filter((candidate) => alive.has(candidate.metadata.uid));
          // A pod changed while the watch was down, and sometimes changes back right after
          // the list: its next line shows the bytes seen before the list again.
          let revert: { index: number; before: Pod } | undefined;
          if (listedPods.length > 0 && r.chance(0.5)) {
            const index = pods.indexOf(r.pick(listedPods));
            const before = structuredClone(pods[index]!);
            mutate(pods[index]!, r, clock);
            if (r.chance(0.6)) revert = { index, before };
          }
          const page = encode(
            {
              kind: "PodList",
              metadata: { resourceVersion: String(rv) },
              items: listedPods as unknown as Json[],
            },
            r,
            r.chance(0.3),
          );
          const items = (JSON.parse(page) as { items: Pod[] }).items;
          for (const item of items) {
            filtered.pipeline.handle("ADDED", item);
            everyLine.pipeline.handle("ADDED", item);
            lastParsedPrint.set(item.metadata.uid, statusFingerprint(item));
          }
          filter.seedList(
            Buffer.from(page),
            items.map((item) => item.metadata.uid),
          );
          const listed = new Set(alive);
          filtered.pipeline.forgetAllBut(listed, undefined);
          everyLine.pipeline.forgetAllBut(listed, undefined);
          filter.keepOnly(listed);
          for (const uid of listed) seeded.add(uid);
          if (revert) pods[revert.index] = revert.before;
          relists += 1;
        }
      }
      filtered.pipeline.drainFolded();
      everyLine.pipeline.drainFolded();
      expect(filtered.queued.map((e) => `${e.id}:${e.suppressed}`)).toEqual(
        everyLine.queued.map((e) => `${e.id}:${e.suppressed}`),
      );
      expect(filtered.audited).toEqual(everyLine.audited);
    }
    // Not vacuous: churn was skipped and changes were parsed.
    expect(skipped).toBeGreaterThan(150);
    expect(relists).toBeGreaterThan(30);
    // The first line after a relist was compared with the listed bytes, not parsed.
    expect(skippedAfterSeeding).toBeGreaterThan(10);
    expect(parsedModified).toBeGreaterThan(1000);
    // Seconds on an idle machine; a busy CI runner gets room.
  }, 60_000);

  it("parses in full what it cannot read for sure", () => {
    const filter = createPodLineFilter();
    const inspect = (line: string) => filter.inspect(Buffer.from(line), 0, Buffer.byteLength(line));
    const pod = (status: string) =>
      `{"type":"MODIFIED","object":{"metadata":{"uid":"u","resourceVersion":"1"},"status":${status}}}`;
    expect(inspect(pod('{"phase":"Running"}'))).toEqual({ resourceVersion: "1", unchanged: false });
    expect(inspect(pod('{"phase":"Running"}'))).toEqual({ resourceVersion: "1", unchanged: true });
    // An escaped key may be "phase": its bytes are not its meaning.
    expect(inspect(pod('{"ph\\u0061se":"Failed","phase":"Running"}'))).toBeUndefined();
    expect(inspect(pod('{"phase":"Running"'))).toBeUndefined();
    expect(
      inspect('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}'),
    ).toBeUndefined();
    expect(inspect('{"type":"ERROR","object":{"code":410}}')).toBeUndefined();
    expect(inspect("not json")).toBeUndefined();
    // A pod deleted and back with its uid is compared afresh.
    expect(inspect(pod('{"phase":"Running"}').replace("MODIFIED", "DELETED"))).toBeUndefined();
    expect(inspect(pod('{"phase":"Running"}'))).toEqual({ resourceVersion: "1", unchanged: false });
  });

  it("takes the short way to the status only when it is the pod's last member", () => {
    const filter = createPodLineFilter();
    const inspect = (line: string) => filter.inspect(Buffer.from(line), 0, Buffer.byteLength(line));
    const meta = '"metadata":{"uid":"u","resourceVersion":"1"}';
    // A nested "status" object last in the line, the pod's own status before it: its change counts.
    const statusFirst = (phase: string) =>
      `{"type":"MODIFIED","object":{${meta},"status":{"phase":"${phase}"},"spec":{"x":{"status":{"phase":"Running"}}}}}`;
    expect(inspect(statusFirst("Running"))?.unchanged).toBe(false);
    expect(inspect(statusFirst("Running"))?.unchanged).toBe(true);
    expect(inspect(statusFirst("Failed"))?.unchanged).toBe(false);
    // The same pod the API server's way: what the short way read agrees with the full walk.
    const usual = (phase: string, time: string) =>
      `{"type":"MODIFIED","object":{"kind":"Pod",${meta},"spec":{"nodeName":"n"},"status":{"phase":"${phase}","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"${time}"}]}}}`;
    expect(inspect(usual("Pending", "t1"))?.unchanged).toBe(false);
    expect(inspect(usual("Pending", "t2"))?.unchanged).toBe(true);
    expect(inspect(usual("Running", "t2"))?.unchanged).toBe(false);
    // The real status written with an escaped key after a plain one: neither way reads it for sure.
    expect(
      inspect(
        `{"type":"MODIFIED","object":{${meta},"status":{"phase":"Running"},"st\\u0061tus":{"phase":"Failed"}}}`,
      ),
    ).toBeUndefined();
  });

  it("compares a pod's first line after a list with its listed bytes, and forgets what it cannot read", () => {
    const filter = createPodLineFilter();
    const inspect = (line: string) => filter.inspect(Buffer.from(line), 0, Buffer.byteLength(line));
    const pod = (uid: string, phase: string, rv = "1") =>
      `{"metadata":{"uid":"${uid}","resourceVersion":"${rv}"},"status":{"phase":"${phase}"}}`;
    const line = (uid: string, phase: string) =>
      `{"type":"MODIFIED","object":${pod(uid, phase, "2")}}`;
    const page = (...items: string[]) =>
      Buffer.from(`{"kind":"PodList","metadata":{},"items":[${items.join(",")}]}`);
    // Seen on the watch as Pending; listed (after a gap) as Running.
    expect(inspect(line("a", "Pending"))?.unchanged).toBe(false);
    expect(inspect(line("b", "Pending"))?.unchanged).toBe(false);
    filter.seedList(page(pod("a", "Running"), pod("b", "Running")), ["a", "b"]);
    filter.keepOnly(new Set(["a", "b"]));
    expect(inspect(line("a", "Running"))?.unchanged).toBe(true);
    // Back to what the watch saw before the list: a change from what the pipeline last handled.
    expect(inspect(line("b", "Pending"))?.unchanged).toBe(false);
    // A page with an item it cannot read for sure: every pod of it is parsed next time.
    filter.seedList(
      page(pod("a", "Running"), pod("b", "Pending").replace('"phase"', '"ph\\u0061se"')),
      ["a", "b"],
    );
    expect(inspect(line("a", "Running"))?.unchanged).toBe(false);
    expect(inspect(line("b", "Pending"))?.unchanged).toBe(false);
    // A pod the list did not hold is forgotten.
    filter.keepOnly(new Set(["b"]));
    expect(inspect(line("a", "Running"))?.unchanged).toBe(false);
    expect(filter.size).toBe(2);
  });
});
