import * as restate from "@restatedev/restate-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { sealEntry, type AuditEntry, type AuditRecord } from "../../src/audit/chain.ts";
import { queryAudit, readAuditMarks, verifyAudit } from "../../src/audit/query.ts";
import {
  appendToAudit,
  AUDIT_INBOX_SHARDS,
  createAuditInboxObject,
} from "../../workflows/audit-inbox.object.ts";
import { createAuditLogObject, type AuditLogObject } from "../../workflows/audit-log.object.ts";
import { eventually } from "../harness/eventually.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { runBinScript, type CliRun } from "../harness/cli.ts";

/** Above the storm below, so the storm's log is whole until the retention case adds to it. */
const RETENTION = 650;
let server: RestateHarness;
/** Attempts of AuditWriter.sendThenFail by request id: the first one fails after its sends. */
const attempts = new Map<string, number>();

/** Stands in for the backend's services: the audit's handlers are not reachable from the ingress. */
const AuditWriter = restate.service({
  name: "AuditWriter",
  handlers: {
    /** As every service appends: one-way sends to the cluster's inboxes. */
    send: async (ctx: restate.Context, records: AuditRecord[]) => {
      for (const record of records) appendToAudit(ctx, record);
    },
    /** As the previous release appended: one AuditLog.append invocation an entry. */
    appendOneByOne: async (ctx: restate.Context, records: AuditRecord[]) => {
      for (const record of records) {
        await ctx.objectClient<AuditLogObject>({ name: "AuditLog" }, record.cluster).append(record);
      }
    },
    /** A caller whose first attempt dies after its appends were sent: Restate retries it. */
    sendThenFail: async (ctx: restate.Context, request: { id: string; records: AuditRecord[] }) => {
      for (const record of request.records) appendToAudit(ctx, record);
      const attempt = (attempts.get(request.id) ?? 0) + 1;
      attempts.set(request.id, attempt);
      if (attempt === 1) throw new Error("the caller dies after sending its appends");
    },
  },
});

/** One signature by default: one inbox, so the chain keeps the order they were sent in. */
function record(cluster: string, i: number, signature = "f".repeat(64)): AuditRecord {
  return {
    kind: i % 3 === 0 ? "capture.finished" : "incident.seen",
    cluster,
    namespace: i % 2 === 0 ? "even" : "odd",
    pod: `pod-${i}`,
    signature,
    captureId: null,
    detail: { i },
  };
}

/** Signatures that spread records over every inbox of a cluster. */
const spread = (cluster: string, i: number) =>
  record(cluster, i, (i % 251).toString(16).padStart(64, "0"));

async function call(handler: string, body: unknown): Promise<void> {
  const response = await fetch(`${server.ingressUrl}/AuditWriter/${handler}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
}

/** The chain's head as Restate's storage has it (the head handler would wait for the endpoint). */
async function headSeq(cluster: string): Promise<number> {
  return (await readAuditMarks({ adminUrl: server.adminUrl }, cluster)).head?.seq ?? 0;
}

/** Appends through the inboxes; done once the chain's head has sealed `upTo`. */
async function write(records: AuditRecord[], upTo?: number): Promise<void> {
  await call("send", records);
  const cluster = records[0]!.cluster;
  const last = upTo ?? records.length;
  await eventually(async () => expect(await headSeq(cluster)).toBeGreaterThanOrEqual(last));
}

/** Waits until no inbox of the cluster holds a record: everything sent is on the chain. */
async function drained(cluster: string): Promise<void> {
  await eventually(async () => {
    const pending = await server.query<{ n: number }>(
      `SELECT count(*) AS n FROM state WHERE service_name = 'AuditInbox' AND service_key LIKE '${cluster}/%' AND key LIKE 'pending:%'`,
    );
    expect(pending[0]?.n).toBe(0);
  }, 30_000);
}

function cli(...args: string[]): Promise<CliRun> {
  return runBinScript("podmortem.js", [...args, "--admin-url", server.adminUrl], {
    env: { PATH: process.env.PATH },
  });
}

type StateRow = { key: string; value_utf8: string };

async function stateOf(cluster: string): Promise<StateRow[]> {
  return server.query<StateRow>(
    `SELECT key, value_utf8 FROM state WHERE service_name = 'AuditLog' AND service_key = '${cluster}' ORDER BY key`,
  );
}

/** What an operator with access to Restate's admin API can do: replace a key's whole state. */
async function replaceState(cluster: string, rows: StateRow[]): Promise<void> {
  const response = await fetch(`${server.adminUrl}/services/AuditLog/state`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      object_key: cluster,
      new_state: Object.fromEntries(
        rows.map((row) => [row.key, Array.from(Buffer.from(row.value_utf8))]),
      ),
    }),
  });
  expect(response.status).toBeLessThan(300);
}

beforeAll(async () => {
  server = await startRestate({
    services: [
      createAuditLogObject({ retentionEntries: RETENTION }),
      createAuditInboxObject(),
      AuditWriter,
    ],
  });
}, 60_000);

afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
});

describe("an upgrade", () => {
  it("reads and verifies the entries the previous release appended one by one, continued by the inboxes", async () => {
    // The previous release: one AuditLog.append invocation an entry, the same keys and hashes.
    await call(
      "appendOneByOne",
      Array.from({ length: 6 }, (_, i) => record("upgraded", i + 1)),
    );
    await write(
      Array.from({ length: 6 }, (_, i) => record("upgraded", i + 7)),
      12,
    );
    const verified = await cli("audit", "verify", "--cluster", "upgraded");
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain("holds: 12 entries");
    const finished = await cli(
      "audit",
      "--cluster",
      "upgraded",
      "--kind",
      "capture.finished",
      "--json",
    );
    expect((JSON.parse(finished.stdout) as AuditEntry[]).map((e) => [e.seq, e.detail.i])).toEqual(
      [3, 6, 9, 12].map((i) => [i, i]),
    );
  });
});

describe("queries in pages", () => {
  it("answers filters and the newest N across page boundaries", async () => {
    const admin = { adminUrl: server.adminUrl };
    await write(Array.from({ length: 5 }, (_, i) => record("paged", i + 1)));
    const even = await queryAudit(admin, { cluster: "paged", namespace: "even" }, { pageSize: 1 });
    expect(even.map((e) => e.seq)).toEqual([2, 4]);
    const newest = await queryAudit(admin, { cluster: "paged", limit: 3 }, { pageSize: 2 });
    expect(newest.map((e) => e.seq)).toEqual([3, 4, 5]);
    const newestOdd = await queryAudit(
      admin,
      { cluster: "paged", namespace: "odd", limit: 2 },
      { pageSize: 1 },
    );
    expect(newestOdd.map((e) => e.seq)).toEqual([3, 5]);
    const all = await queryAudit(admin, { cluster: "paged" });
    const since = new Date(all[3]!.at);
    expect(
      (await queryAudit(admin, { cluster: "paged", since }, { pageSize: 1 })).every(
        (e) => e.at >= all[3]!.at,
      ),
    ).toBe(true);
    expect(
      await queryAudit(admin, { cluster: "paged", since: new Date(Date.now() + 60_000) }),
    ).toEqual([]);
    const kinds = await cli("audit", "--cluster", "paged", "--kind", "capture.finished", "--json");
    expect((JSON.parse(kinds.stdout) as AuditEntry[]).map((e) => e.seq)).toEqual([3]);
    const wrongKind = await cli("audit", "--cluster", "paged", "--kind", "capture.done");
    expect(wrongKind.code).toBe(3);
    expect(wrongKind.stderr).toContain("capture.finished");
  });
});

describe("tampering", () => {
  it("refuses appends from the ingress, detects a cut tail, and a rewritten chain against an anchor", async () => {
    await write(Array.from({ length: 4 }, (_, i) => record("forged", i + 1)));
    await drained("forged");
    const good = await cli("audit", "verify", "--cluster", "forged");
    expect(good.code, good.stderr).toBe(0);
    const anchor = /head (\d+:[0-9a-f]{64})/.exec(good.stdout)?.[1];
    expect(anchor).toMatch(/^4:/);

    for (const route of [
      "AuditLog/forged/append",
      "AuditLog/forged/appendBatch",
      "AuditInbox/forged%2F0/append",
      "AuditInbox/forged%2F0/flush",
    ]) {
      const forged = await fetch(`${server.ingressUrl}/${route}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(
          route.endsWith("Batch") ? [record("forged", 99)] : record("forged", 99),
        ),
      });
      expect(forged.status, route).toBe(400);
      expect(await forged.text(), route).toMatch(/not public/);
    }

    const original = await stateOf("forged");
    expect(original.map((r) => r.key)).toContain("head");

    // Someone removes the newest entry, leaving the head record in place.
    await replaceState(
      "forged",
      original.filter((r) => r.key !== "entry:000000000004"),
    );
    await eventually(async () => {
      const cut = await cli("audit", "verify", "--cluster", "forged");
      expect(cut.code).toBe(5);
      expect(cut.stdout).toContain("BROKEN at entry 4: entries 4..4 are missing");
    });

    // Someone rewrites entry 2 and re-seals everything after it, head included: the chain
    // holds on its own, and only a hash written down earlier tells.
    const entries = original
      .filter((r) => r.key.startsWith("entry:"))
      .map((r) => JSON.parse(r.value_utf8) as AuditEntry);
    let prevHash = entries[0]!.hash;
    const resealed = entries.slice(1).map((entry) => {
      const { seq, at, prevHash: _prev, hash: _hash, ...rest } = entry;
      const content = seq === 2 ? { ...rest, detail: { i: 2, forged: true } } : rest;
      const sealed = sealEntry(content, seq, at, prevHash);
      prevHash = sealed.hash;
      return sealed;
    });
    await replaceState("forged", [
      original[0]!,
      ...resealed.map((e) => ({
        key: `entry:${String(e.seq).padStart(12, "0")}`,
        value_utf8: JSON.stringify(e),
      })),
      { key: "head", value_utf8: JSON.stringify({ seq: 4, hash: prevHash }) },
    ]);
    await eventually(async () => {
      const rows = await stateOf("forged");
      expect(rows.find((r) => r.key === "entry:000000000002")?.value_utf8).toContain("forged");
    });
    expect((await cli("audit", "verify", "--cluster", "forged")).code).toBe(0);
    const anchored = await cli("audit", "verify", "--cluster", "forged", "--anchor", anchor!);
    expect(anchored.code).toBe(5);
    expect(anchored.stdout).toContain("BROKEN at entry 4");
    expect(anchored.stdout).toContain("the chain was rewritten");
  });
});

describe("appends through the inboxes, in batches", () => {
  const STORM = 600;
  const entryKey = (seq: number) => `entry:${String(seq).padStart(12, "0")}`;

  it("seals a retried caller's appends once", async () => {
    await call("sendThenFail", {
      id: "retried",
      records: Array.from({ length: 40 }, (_, i) => spread("retried", i + 1)),
    });
    expect(attempts.get("retried")).toBe(2);
    await drained("retried");
    const entries = await queryAudit({ adminUrl: server.adminUrl }, { cluster: "retried" });
    expect(entries.map((e) => e.detail.i).sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    expect(await headSeq("retried")).toBe(40);
  });

  it("seals every append exactly once when the endpoint dies mid-storm, as one chain across every inbox", async () => {
    await call(
      "send",
      Array.from({ length: STORM }, (_, i) => spread("storm", i + 1)),
    );
    // The endpoint goes away while inboxes are appending and flushing into the chain.
    await eventually(async () => expect(await headSeq("storm")).toBeGreaterThan(0), 10_000, 20);
    await server.stopEndpoint();
    await eventually(async () => {
      const failed = await server.query<{ n: number }>(
        "SELECT count(*) AS n FROM sys_invocation WHERE target_service_name IN ('AuditInbox', 'AuditLog') AND status <> 'completed' AND retry_count > 0",
      );
      expect(failed[0]?.n).toBeGreaterThan(0);
    });
    expect(await headSeq("storm")).toBeLessThan(STORM);
    // What is sealed holds meanwhile, and verify says what still waits.
    const meanwhile = await cli("audit", "verify", "--cluster", "storm");
    expect(meanwhile.code, meanwhile.stderr).toBe(0);
    expect(meanwhile.stdout).toMatch(/appends wait in its inboxes, not yet sealed/);
    await server.startEndpoint();
    await drained("storm");

    const admin = { adminUrl: server.adminUrl };
    const entries = await queryAudit(admin, { cluster: "storm" });
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: STORM }, (_, i) => i + 1));
    expect(new Set(entries.map((e) => e.detail.i)).size).toBe(STORM);
    // Every inbox took part, and the chain sealed them in batches, not one an invocation.
    const inboxes = await server.query<{ service_key: string }>(
      "SELECT DISTINCT service_key FROM state WHERE service_name = 'AuditInbox' AND service_key LIKE 'storm/%'",
    );
    expect(inboxes.length).toBe(AUDIT_INBOX_SHARDS);
    const batches = await server.query<{ n: number }>(
      "SELECT count(*) AS n FROM sys_invocation WHERE target_service_name = 'AuditLog' AND target_service_key = 'storm' AND target_handler_name = 'appendBatch' AND status = 'completed'",
    );
    expect(batches[0]!.n).toBeLessThan(STORM / 2);
    // Each inbox keeps the order it was sent: a signature's records ascend.
    const bySignature = new Map<string, number>();
    for (const entry of entries) {
      const previous = bySignature.get(entry.signature!) ?? 0;
      expect(Number(entry.detail.i)).toBeGreaterThan(previous);
      bySignature.set(entry.signature!, Number(entry.detail.i));
    }
    const verified = await cli("audit", "verify", "--cluster", "storm", "--json");
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, entries: STORM, pending: 0 });
  });

  it("names an edited, a removed and a reordered entry in a batched log", async () => {
    const original = await stateOf("storm");
    expect(original.filter((r) => r.key.startsWith("entry:")).length).toBe(STORM);
    const restore = () => replaceState("storm", original);
    const edit = (key: string, change: (entry: AuditEntry) => AuditEntry) =>
      original.map((row) =>
        row.key === key
          ? { key, value_utf8: JSON.stringify(change(JSON.parse(row.value_utf8) as AuditEntry)) }
          : row,
      );
    const brokenAt = async (expected: RegExp) =>
      eventually(async () => {
        const broken = await cli("audit", "verify", "--cluster", "storm");
        expect(broken.code).toBe(5);
        expect(broken.stdout).toMatch(expected);
      });

    // A batch seals entries with one time: edit one in the middle of a batch.
    const batched = (await queryAudit({ adminUrl: server.adminUrl }, { cluster: "storm" })).find(
      (e, i, all) => i > 0 && all[i - 1]!.at === e.at && all[i + 1]?.at === e.at,
    );
    expect(batched).toBeDefined();
    await replaceState(
      "storm",
      edit(entryKey(batched!.seq), (e) => ({ ...e, detail: { ...e.detail, forged: true } })),
    );
    await brokenAt(
      new RegExp(`BROKEN at entry ${batched!.seq}: entry ${batched!.seq} was modified`),
    );

    await replaceState(
      "storm",
      original.filter((row) => row.key !== entryKey(300)),
    );
    await brokenAt(/BROKEN at entry 300: entry 300 is missing/);

    const [a, b] = [
      original.find((r) => r.key === entryKey(200))!,
      original.find((r) => r.key === entryKey(201))!,
    ];
    await replaceState(
      "storm",
      original.map((row) =>
        row.key === a.key
          ? { key: a.key, value_utf8: b.value_utf8 }
          : row.key === b.key
            ? { key: b.key, value_utf8: a.value_utf8 }
            : row,
      ),
    );
    await brokenAt(/BROKEN at entry 200: /);

    await restore();
    await eventually(async () =>
      expect((await cli("audit", "verify", "--cluster", "storm")).code).toBe(0),
    );
  });

  it("keeps the newest entries, and the kept chain still verifies from where retention cut it", async () => {
    // The log above holds STORM entries; retention keeps RETENTION and cuts inside a batch.
    const total = RETENTION + 12;
    await write(
      Array.from({ length: total - STORM }, (_, i) => spread("storm", STORM + i + 1)),
      total,
    );
    await drained("storm");
    const kept = (await stateOf("storm"))
      .filter((r) => r.key.startsWith("entry:"))
      .map((r) => r.key);
    expect(kept.length).toBe(RETENTION);
    expect(kept[0]).toBe(entryKey(13));
    expect(kept.at(-1)).toBe(entryKey(total));
    expect((await readAuditMarks({ adminUrl: server.adminUrl }, "storm")).base.seq).toBe(12);
    expect(
      await verifyAudit({ adminUrl: server.adminUrl }, "storm", { pageSize: 100 }),
    ).toMatchObject({ ok: true, entries: RETENTION, first: 13, pruned: 12 });
    const verified = await cli("audit", "verify", "--cluster", "storm");
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(
      `holds: ${RETENTION} entries (13..${total}; 1..12 removed by retention)`,
    );
  });
});
