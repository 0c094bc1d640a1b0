import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";

import * as restate from "@restatedev/restate-sdk";

import { canonicalJson, type AuditRecord } from "../../src/audit/chain.ts";
import { queryAudit, verifyAudit } from "../../src/audit/query.ts";
import { resolveRestateServerBinary } from "../../src/restate/server-binary.ts";
import {
  appendToAudit,
  AUDIT_INBOX_SHARDS,
  createAuditInboxObject,
} from "../../workflows/audit-inbox.object.ts";
import { createAuditLogObject, type AuditLogObject } from "../../workflows/audit-log.object.ts";
import { startRestate } from "../harness/restate-server.ts";

// The audit log of one cluster in a storm: ENTRIES appends sent as services send them (one-way
// sends from handlers, SENDS_PER_CALL a caller invocation, every call sent at once), timed from
// the first send until the chain's head has sealed the last one. Two layouts in one run on one
// server, alternating ROUNDS times: "one-by-one" is the previous release's path (one exclusive
// AuditLog.append invocation an entry on the cluster's single key), "inboxes" is today's
// (AuditInbox shards, sealed in batches by AuditLog.appendBatch). Each run also says the CPU time
// Restate and this process (endpoint and load) spent an append, which a loaded machine inflates
// less than it does rates. Then how long `audit --limit`, filtered queries and `audit verify`
// take over the inboxes' log.
const ENTRIES = Number(process.env.BENCH_AUDIT_ENTRIES ?? 4000);
const ROUNDS = Number(process.env.BENCH_AUDIT_ROUNDS ?? 2);
const BEFORE = process.env.BENCH_AUDIT_BEFORE !== "0";
const SENDS_PER_CALL = 200;

const AuditWriter = restate.service({
  name: "AuditWriter",
  handlers: {
    inboxes: async (ctx: restate.Context, records: AuditRecord[]) => {
      for (const record of records) appendToAudit(ctx, record);
    },
    oneByOne: async (ctx: restate.Context, records: AuditRecord[]) => {
      for (const record of records) {
        ctx.objectSendClient<AuditLogObject>({ name: "AuditLog" }, record.cluster).append(record);
      }
    },
  },
});

/** A storm's mix: incident.seen over 97 signatures, every 4th a capture.finished with artifacts. */
function record(cluster: string, i: number): AuditRecord {
  return {
    kind: i % 4 === 0 ? "capture.finished" : "incident.seen",
    cluster,
    namespace: `ns-${i % 50}`,
    pod: `pod-${i}`,
    signature: (i % 97).toString(16).padStart(64, "0"),
    captureId: `pm-${i}`,
    detail: {
      occurrenceId: i.toString(16).padStart(64, "0"),
      container: "app",
      reason: "Error",
      exitCode: 1,
      occurrences: i,
      artifacts:
        i % 4 === 0
          ? Array.from({ length: 6 }, (_, a) => ({
              name: `f${a}`,
              sha256: "a".repeat(64),
              size: 1000,
            }))
          : undefined,
    },
  };
}

const server = await startRestate({
  services: [createAuditLogObject(), createAuditInboxObject(), AuditWriter],
});
const admin = { adminUrl: server.adminUrl };

async function headSeq(cluster: string): Promise<number> {
  const response = await fetch(`${server.ingressUrl}/AuditLog/${cluster}/head`, {
    method: "POST",
  });
  return ((await response.json()) as { seq: number }).seq;
}

/** CPU seconds the server processes and this process (endpoint and load) have used so far. */
function cpuSeconds(): { server: number; bench: number } {
  let restateCpu = 0;
  for (const pid of server.serverPids()) {
    // utime and stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 a second).
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    restateCpu += (Number(fields[11]) + Number(fields[12])) / 100;
  }
  const own = process.cpuUsage();
  return { server: restateCpu, bench: (own.user + own.system) / 1e6 };
}

async function storm(layout: "inboxes" | "oneByOne", cluster: string) {
  const cpuBefore = cpuSeconds();
  const started = performance.now();
  const calls: Array<Promise<Response>> = [];
  for (let from = 0; from < ENTRIES; from += SENDS_PER_CALL) {
    const records = Array.from({ length: Math.min(SENDS_PER_CALL, ENTRIES - from) }, (_, i) =>
      record(cluster, from + i + 1),
    );
    calls.push(
      fetch(`${server.ingressUrl}/AuditWriter/${layout}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(records),
      }),
    );
  }
  for (const response of await Promise.all(calls)) {
    if (!response.ok) throw new Error(`${layout} answered ${response.status}`);
  }
  while ((await headSeq(cluster)) < ENTRIES) await new Promise((r) => setTimeout(r, 100));
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = cpuSeconds();
  const cpuMsPerAppend = (from: "server" | "bench") =>
    Number((((cpuAfter[from] - cpuBefore[from]) * 1000) / ENTRIES).toFixed(2));
  const invocations = await server.query<{ handler: string; n: number }>(
    `SELECT target_handler_name AS handler, count(*) AS n FROM sys_invocation WHERE target_service_name = 'AuditLog' AND target_service_key = '${cluster}' AND target_handler_name <> 'head' GROUP BY target_handler_name`,
  );
  const chainInvocations = invocations.reduce((sum, row) => sum + Number(row.n), 0);
  return {
    layout: layout === "inboxes" ? "inboxes" : "one-by-one",
    appendsPerS: Math.round(ENTRIES / seconds),
    seconds: Number(seconds.toFixed(2)),
    chainInvocations,
    entriesPerChainInvocation: Number((ENTRIES / chainInvocations).toFixed(1)),
    cpuMsPerAppend: {
      restateServer: cpuMsPerAppend("server"),
      endpointAndLoad: cpuMsPerAppend("bench"),
    },
    load: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

try {
  const runs: Array<Awaited<ReturnType<typeof storm>>> = [];
  for (let round = 1; round <= ROUNDS; round++) {
    if (BEFORE) runs.push(await storm("oneByOne", `before-${round}`));
    runs.push(await storm("inboxes", `after-${round}`));
  }
  const cluster = `after-${ROUNDS}`;
  const timed = async <T>(run: () => Promise<T>) => {
    const t0 = performance.now();
    const result = await run();
    return { ms: Math.round(performance.now() - t0), result };
  };
  const newest = await timed(() => queryAudit(admin, { cluster, limit: 20 }));
  const byPod = await timed(() => queryAudit(admin, { cluster, pod: "pod-77" }));
  const byNamespace = await timed(() => queryAudit(admin, { cluster, namespace: "ns-7" }));
  const byKind = await timed(() => queryAudit(admin, { cluster, kind: "capture.finished" }));
  const since = await timed(() =>
    queryAudit(admin, { cluster, since: new Date(Date.now() - 2000) }),
  );
  const verify = await timed(() => verifyAudit(admin, cluster));
  const rates = (layout: string) =>
    runs.filter((run) => run.layout === layout).map((run) => run.appendsPerS);
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  };
  const before = rates("one-by-one");
  const after = rates("inboxes");
  const payloadBytes = Array.from({ length: 100 }, (_, i) => canonicalJson(record(cluster, i + 1)));
  const version = spawnSync(resolveRestateServerBinary(), ["--version"], { encoding: "utf8" });
  process.stdout.write(
    `${JSON.stringify({
      benchmark: "audit-log",
      includes:
        "one cluster's audit log: callers' one-way sends from a Restate service handler, the inbox or single-key append invocations, SHA-256 sealing, state writes; head polled every 100 ms through the ingress; server, endpoint and load generator on one machine",
      restate: `${version.stdout.trim() || "restate-server"}, one node, test harness settings (2 partitions, RocksDB 128 MiB, default WAL and log durability: nothing relaxed)`,
      inboxShards: AUDIT_INBOX_SHARDS,
      entriesPerRun: ENTRIES,
      payloadBytesAvg: Math.round(
        payloadBytes.reduce((sum, text) => sum + text.length, 0) / payloadBytes.length,
      ),
      appendsPerS: {
        before: BEFORE ? median(before) : "not run (BENCH_AUDIT_BEFORE=0)",
        after: median(after),
        ratio: BEFORE ? Number((median(after) / median(before)).toFixed(1)) : null,
      },
      runs,
      overInboxLog: {
        newest20Ms: newest.ms,
        byPodMs: byPod.ms,
        byPodEntries: byPod.result.length,
        byNamespaceMs: byNamespace.ms,
        byNamespaceEntries: byNamespace.result.length,
        byKindMs: byKind.ms,
        byKindEntries: byKind.result.length,
        sinceLast2sMs: since.ms,
        verifyMs: verify.ms,
        verifyOk: verify.result.ok,
        verifiedEntries: verify.result.entries,
      },
      load: os.loadavg().map((l) => Number(l.toFixed(2))),
      cpus: os.cpus().length,
    })}\n`,
  );
} finally {
  await server[Symbol.asyncDispose]();
}
process.exit(0);
