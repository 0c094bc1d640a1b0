import { describe, expect, it } from "vitest";

import {
  canonicalJson,
  GENESIS_HASH,
  sealEntry,
  verifyChain,
  type AuditEntry,
  type AuditRecord,
} from "../../../src/audit/chain.ts";

function record(i: number): AuditRecord {
  return {
    kind: "incident.seen",
    cluster: "c",
    namespace: "ns",
    pod: `p-${i}`,
    signature: null,
    captureId: null,
    detail: { i },
  };
}

function chain(n: number, from = { seq: 0, hash: GENESIS_HASH }): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let prev = from;
  for (let seq = prev.seq + 1; seq <= from.seq + n; seq++) {
    const entry = sealEntry(
      record(seq),
      seq,
      `2026-11-22T10:00:${String(seq).padStart(2, "0")}Z`,
      prev.hash,
    );
    entries.push(entry);
    prev = entry;
  }
  return entries;
}

describe("audit chain", () => {
  it("hashes canonical JSON, independent of key order", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"e":3,"f":2}]},"b":1}',
    );
  });

  it("holds when nothing was touched", () => {
    const entries = chain(5);
    expect(verifyChain(entries)).toEqual({
      ok: true,
      entries: 5,
      first: 1,
      head: entries[4]!.hash,
      pruned: 0,
    });
    expect(verifyChain([])).toMatchObject({ ok: true, entries: 0 });
  });

  it("names an entry whose content was changed", () => {
    const entries = chain(5);
    entries[2] = { ...entries[2]!, detail: { i: 3, forged: true } };
    expect(verifyChain(entries)).toMatchObject({
      ok: false,
      brokenAt: 3,
      problem: expect.stringContaining("modified"),
    });
  });

  it("names a removed entry, and one re-sealed without its predecessor's hash", () => {
    const entries = chain(5);
    expect(verifyChain([...entries.slice(0, 2), ...entries.slice(3)])).toMatchObject({
      ok: false,
      brokenAt: 3,
      problem: "entry 3 is missing (the next kept entry is 4)",
    });
    const { seq, at, prevHash: _p, hash: _h, ...content } = entries[3]!;
    const resealed = sealEntry({ ...content, detail: { forged: true } }, seq, at, GENESIS_HASH);
    expect(verifyChain([...entries.slice(0, 3), resealed, entries[4]!])).toMatchObject({
      ok: false,
      brokenAt: 4,
      problem: "entry 4 does not link to entry 3",
    });
  });

  it("names the missing tail when the log's head is further than its entries", () => {
    const entries = chain(5);
    expect(
      verifyChain(entries.slice(0, 3), { head: { seq: 5, hash: entries[4]!.hash } }),
    ).toMatchObject({
      ok: false,
      brokenAt: 4,
      problem: "entries 4..5 are missing: the log's head is entry 5",
    });
    expect(verifyChain(entries, { head: null })).toMatchObject({ ok: false, brokenAt: 5 });
  });

  it("starts from the base retention left, and checks anchors written down earlier", () => {
    const full = chain(8);
    const kept = full.slice(5);
    const base = { seq: 5, hash: full[4]!.hash };
    expect(verifyChain(kept, { base })).toMatchObject({
      ok: true,
      entries: 3,
      first: 6,
      pruned: 5,
    });
    expect(verifyChain(kept)).toMatchObject({ ok: false, brokenAt: 1 });

    const anchor = { seq: 7, hash: full[6]!.hash };
    expect(verifyChain(kept, { base, anchors: [anchor] })).toMatchObject({ ok: true });
    const rewritten = chain(8, { seq: 0, hash: "1".repeat(64) });
    expect(
      verifyChain(rewritten.slice(5), {
        base: { seq: 5, hash: rewritten[4]!.hash },
        anchors: [anchor],
      }),
    ).toMatchObject({
      ok: false,
      brokenAt: 7,
      problem: expect.stringContaining("the chain was rewritten"),
    });
    expect(verifyChain(kept, { base, anchors: [{ seq: 9, hash: anchor.hash }] })).toMatchObject({
      ok: false,
      brokenAt: 9,
      problem: "entry 9 (an anchor) is not in the log",
    });
  });
});
