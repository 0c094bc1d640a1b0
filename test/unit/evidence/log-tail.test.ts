import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";

import { readLogTail } from "../../../src/evidence/log-tail.ts";

function chunked(text: string, size: number): Readable {
  const bytes = Buffer.from(text);
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) parts.push(bytes.subarray(at, at + size));
  return Readable.from(parts);
}

describe("readLogTail", () => {
  it("keeps a log under the limit whole and says nothing was dropped", async () => {
    const tail = await readLogTail(chunked("one\ntwo\nthree\n", 4), 1024);
    expect(Buffer.concat(tail.chunks).toString()).toBe("one\ntwo\nthree\n");
    expect(tail).toMatchObject({ keptBytes: 14, totalBytes: 14, droppedBytes: 0 });
  });

  it("keeps the newest bytes of a long log, across chunk boundaries", async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i + 1}`);
    const text = `${lines.join("\n")}\npanic: boom\n\tat main.go:42\n`;
    for (const size of [1, 7, 100, 65_536]) {
      const tail = await readLogTail(chunked(text, size), 100);
      const kept = Buffer.concat(tail.chunks).toString();
      expect(kept).toBe(text.slice(-100));
      expect(kept.endsWith("panic: boom\n\tat main.go:42\n")).toBe(true);
      expect(tail.droppedBytes).toBe(Buffer.byteLength(text) - 100);
      // At most maxBytes plus one chunk is ever held.
      expect(tail.chunks.reduce((sum, c) => sum + c.length, 0)).toBe(100);
    }
  });

  it("cuts one very long line from its start", async () => {
    const line = `${"x".repeat(10_000)}END\n`;
    const tail = await readLogTail(chunked(line, 4096), 10);
    expect(Buffer.concat(tail.chunks).toString()).toBe("xxxxxxEND\n");
    expect(tail.droppedBytes).toBe(10_000 + 4 - 10);
  });

  it("reads an empty log as empty", async () => {
    const tail = await readLogTail(Readable.from([]), 10);
    expect(tail).toMatchObject({ chunks: [], keptBytes: 0, totalBytes: 0, droppedBytes: 0 });
  });
});
