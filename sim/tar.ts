import { Readable } from "node:stream";

const BLOCK = 512;

function header(name: string, size: number): Buffer {
  const block = Buffer.alloc(BLOCK, 0);
  const write = (value: string, offset: number, length: number) =>
    block.write(value.slice(0, length), offset, length, "ascii");
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, "0");
  write(name, 0, 100);
  write(octal(0o600, 8), 100, 8);
  write(octal(0, 8), 108, 8);
  write(octal(0, 8), 116, 8);
  write(octal(size, 12), 124, 12);
  write(octal(Math.floor(Date.now() / 1000), 12), 136, 12);
  block.fill(" ", 148, 156);
  write("0", 156, 1);
  write("ustar", 257, 6);
  write("00", 263, 2);
  let checksum = 0;
  for (const byte of block) checksum += byte;
  write(`${checksum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return block;
}

export type TarEntry = {
  name: string;
  size: number;
  content: (offset: number, length: number) => Buffer;
};

/** A ustar archive streamed entry by entry, so a multi-GiB payload never sits in memory. */
export function tarStream(entries: TarEntry[], chunkBytes = 1024 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (const entry of entries) {
        yield header(entry.name, entry.size);
        for (let offset = 0; offset < entry.size; offset += chunkBytes) {
          yield entry.content(offset, Math.min(chunkBytes, entry.size - offset));
        }
        const pad = (BLOCK - (entry.size % BLOCK)) % BLOCK;
        if (pad) yield Buffer.alloc(pad, 0);
      }
      yield Buffer.alloc(BLOCK * 2, 0);
    })(),
  );
}

export function bytesEntry(name: string, data: Buffer | string): TarEntry {
  const bytes = Buffer.from(data);
  return {
    name,
    size: bytes.length,
    content: (offset, length) => bytes.subarray(offset, offset + length),
  };
}

/** Deterministic pseudo-memory pages: the same bytes for the same offset, cheap to make. */
export function patternEntry(name: string, size: number): TarEntry {
  const pattern = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < pattern.length; i += 4) pattern.writeUInt32LE((i * 2654435761) >>> 0, i);
  return {
    name,
    size,
    content: (offset, length) => {
      const start = offset % pattern.length;
      if (start + length <= pattern.length) return pattern.subarray(start, start + length);
      return Buffer.concat([
        pattern.subarray(start),
        pattern.subarray(0, length - (pattern.length - start)),
      ]);
    },
  };
}
