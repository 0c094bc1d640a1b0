import * as restate from "@restatedev/restate-sdk";

import type { AuditRecord } from "../../src/audit/chain.ts";
import { queryAudit, verifyAudit } from "../../src/audit/query.ts";
import { createAuditLogObject, type AuditLogObject } from "../../workflows/audit-log.object.ts";
import { startRestate } from "../harness/restate-server.ts";

// The audit log of one cluster under load: appends/s on its single key (exclusive handler),
// whether an append slows down as the log grows (lazy state: it should not), and how long
// `audit --limit`, a filtered query and `audit verify` take over the whole log.
const ENTRIES = Number(process.env.BENCH_AUDIT_ENTRIES ?? 4000);
const BATCH = 200;

const AuditWriter = restate.service({
  name: "AuditWriter",
  handlers: {
    write: async (ctx: restate.Context, records: AuditRecord[]) => {
      for (const record of records) {
        ctx.objectSendClient<AuditLogObject>({ name: "AuditLog" }, record.cluster).append(record);
      }
    },
  },
});

function record(i: number): AuditRecord {
  return {
    kind: i % 4 === 0 ? "capture.finished" : "incident.seen",
    cluster: "bench",
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

const server = await startRestate({ services: [createAuditLogObject(), AuditWriter] });
const admin = { adminUrl: server.adminUrl };
try {
  const headSeq = async () =>
    (
      (await (
        await fetch(`${server.ingressUrl}/AuditLog/bench/head`, { method: "POST" })
      ).json()) as {
        seq: number;
      }
    ).seq;
  const rates: number[] = [];
  const started = Date.now();
  for (let from = 0; from < ENTRIES; from += BATCH) {
    const t0 = Date.now();
    const response = await fetch(`${server.ingressUrl}/AuditWriter/write`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(Array.from({ length: BATCH }, (_, i) => record(from + i + 1))),
    });
    if (!response.ok) throw new Error(`write answered ${response.status}`);
    while ((await headSeq()) < from + BATCH) await new Promise((r) => setTimeout(r, 20));
    rates.push((BATCH * 1000) / (Date.now() - t0));
  }
  const totalS = (Date.now() - started) / 1000;
  const timed = async <T>(run: () => Promise<T>) => {
    const t0 = performance.now();
    const result = await run();
    return { ms: Math.round(performance.now() - t0), result };
  };
  const newest = await timed(() => queryAudit(admin, { cluster: "bench", limit: 20 }));
  const byPod = await timed(() => queryAudit(admin, { cluster: "bench", pod: "pod-77" }));
  const byNamespace = await timed(() => queryAudit(admin, { cluster: "bench", namespace: "ns-7" }));
  const since = await timed(() =>
    queryAudit(admin, { cluster: "bench", since: new Date(Date.now() - 2000) }),
  );
  const verify = await timed(() => verifyAudit(admin, "bench"));
  const first = rates.slice(0, 3);
  const last = rates.slice(-3);
  const avg = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
  process.stdout.write(
    `${JSON.stringify({
      bench: "audit-log",
      entries: ENTRIES,
      appendsPerS: Math.round(ENTRIES / totalS),
      appendsPerSFirstBatches: avg(first),
      appendsPerSLastBatches: avg(last),
      newest20Ms: newest.ms,
      byPodMs: byPod.ms,
      byPodEntries: byPod.result.length,
      byNamespaceMs: byNamespace.ms,
      byNamespaceEntries: byNamespace.result.length,
      sinceLast2sMs: since.ms,
      verifyMs: verify.ms,
      verifyOk: verify.result.ok,
    })}\n`,
  );
} finally {
  await server[Symbol.asyncDispose]();
}
