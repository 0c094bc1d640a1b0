import * as restate from "@restatedev/restate-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { sealEntry, type AuditEntry, type AuditRecord } from "../../src/audit/chain.ts";
import { queryAudit, readAuditMarks, verifyAudit } from "../../src/audit/query.ts";
import { createAuditLogObject, type AuditLogObject } from "../../workflows/audit-log.object.ts";
import { eventually } from "../harness/eventually.ts";
import { startRestate, type RestateHarness } from "../harness/restate-server.ts";
import { runBinScript, type CliRun } from "../harness/cli.ts";

const RETENTION = 5;
let server: RestateHarness;

/** Stands in for the backend's services: AuditLog.append is not reachable from the ingress. */
const AuditWriter = restate.service({
  name: "AuditWriter",
  handlers: {
    write: async (ctx: restate.Context, records: AuditRecord[]) => {
      for (const record of records) {
        await ctx.objectClient<AuditLogObject>({ name: "AuditLog" }, record.cluster).append(record);
      }
    },
  },
});

function record(cluster: string, i: number): AuditRecord {
  return {
    kind: i % 3 === 0 ? "capture.finished" : "incident.seen",
    cluster,
    namespace: i % 2 === 0 ? "even" : "odd",
    pod: `pod-${i}`,
    signature: "f".repeat(64),
    captureId: null,
    detail: { i },
  };
}

async function write(records: AuditRecord[]): Promise<void> {
  const response = await fetch(`${server.ingressUrl}/AuditWriter/write`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(records),
  });
  expect(response.status).toBe(200);
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
    services: [createAuditLogObject({ retentionEntries: RETENTION }), AuditWriter],
  });
}, 60_000);

afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
});

describe("the audit log's retention", () => {
  it("keeps the newest entries, and the kept chain still verifies from where retention cut it", async () => {
    await write(Array.from({ length: 12 }, (_, i) => record("kept", i + 1)));
    const rows = await stateOf("kept");
    expect(rows.filter((r) => r.key.startsWith("entry:")).map((r) => r.key)).toEqual(
      [8, 9, 10, 11, 12].map((seq) => `entry:${String(seq).padStart(12, "0")}`),
    );
    expect((await readAuditMarks({ adminUrl: server.adminUrl }, "kept")).base.seq).toBe(7);
    expect(await verifyAudit({ adminUrl: server.adminUrl }, "kept", { pageSize: 2 })).toMatchObject(
      { ok: true, entries: 5, first: 8, pruned: 7 },
    );
    const verified = await cli("audit", "verify", "--cluster", "kept");
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain("holds: 5 entries (8..12; 1..7 removed by retention)");
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
    const good = await cli("audit", "verify", "--cluster", "forged");
    expect(good.code).toBe(0);
    const anchor = /head (\d+:[0-9a-f]{64})/.exec(good.stdout)?.[1];
    expect(anchor).toMatch(/^4:/);

    const forged = await fetch(`${server.ingressUrl}/AuditLog/forged/append`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(record("forged", 99)),
    });
    expect(forged.ok).toBe(false);

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
