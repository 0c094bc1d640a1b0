import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";

import { HashingLimiter, sha256Hex, toReadable } from "../../../src/evidence/hashing.ts";

async function passThrough(chunks: Array<string | Buffer>, maxBytes?: number) {
  const limiter = new HashingLimiter(maxBytes);
  const output: Buffer[] = [];
  await pipeline(Readable.from(chunks), limiter, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) output.push(chunk);
  });
  return { limiter, bytes: Buffer.concat(output) };
}

describe("sha256Hex", () => {
  it("matches the published SHA-256 test vectors", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Hex("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("hashes a string as its UTF-8 bytes", () => {
    expect(sha256Hex("crash ✗")).toBe(sha256Hex(Buffer.from("crash ✗", "utf8")));
  });
});

describe("HashingLimiter", () => {
  it("passes every byte through and reports their size and hash", async () => {
    const chunks = ["alpha\n", Buffer.from([0, 1, 2, 255]), "omega"];
    const { limiter, bytes } = await passThrough(chunks);
    const whole = Buffer.concat(chunks.map((chunk) => Buffer.from(chunk)));
    expect(bytes).toEqual(whole);
    expect(limiter.size).toBe(whole.length);
    expect(limiter.digest()).toBe(createHash("sha256").update(whole).digest("hex"));
    expect(limiter.truncated).toBe(false);
  });

  it("cuts inside a chunk at maxBytes and hashes only what it let through", async () => {
    const { limiter, bytes } = await passThrough(["0123", "4567", "89"], 6);
    expect(bytes.toString()).toBe("012345");
    expect(limiter.size).toBe(6);
    expect(limiter.digest()).toBe(sha256Hex("012345"));
    expect(limiter.truncated).toBe(true);
  });

  it("does not call a body that is exactly maxBytes long truncated", async () => {
    const { limiter, bytes } = await passThrough(["0123", "4567"], 8);
    expect(bytes.toString()).toBe("01234567");
    expect(limiter.truncated).toBe(false);
  });

  it("calls a body truncated when a chunk arrives after the limit was reached", async () => {
    const { limiter, bytes } = await passThrough(["0123", "4"], 4);
    expect(bytes.toString()).toBe("0123");
    expect(limiter.truncated).toBe(true);
  });

  it("lets nothing through with maxBytes 0 and still drains the source", async () => {
    let read = 0;
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 3; i += 1) {
          read += 1;
          yield Buffer.from("data");
        }
      })(),
    );
    const limiter = new HashingLimiter(0);
    const bytes = await buffer(source.pipe(limiter));
    expect(bytes.length).toBe(0);
    expect(limiter.digest()).toBe(sha256Hex(""));
    expect(limiter.truncated).toBe(true);
    expect(read).toBe(3);
  });

  it("hashes an empty body as the empty string's hash", async () => {
    const { limiter } = await passThrough([]);
    expect(limiter.size).toBe(0);
    expect(limiter.digest()).toBe(sha256Hex(""));
  });
});

describe("toReadable", () => {
  it("turns a string or a Buffer into a stream of the same bytes", async () => {
    expect((await buffer(toReadable("text"))).toString()).toBe("text");
    expect(await buffer(toReadable(Buffer.from([1, 2, 3])))).toEqual(Buffer.from([1, 2, 3]));
  });
});
