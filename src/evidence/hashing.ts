import { createHash, type Hash } from "node:crypto";
import { Readable, Transform, type TransformCallback } from "node:stream";

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Passes bytes through, hashing and counting them, and cuts the stream at maxBytes. */
export class HashingLimiter extends Transform {
  readonly #hash: Hash = createHash("sha256");
  readonly #maxBytes: number;
  #size = 0;
  #truncated = false;

  constructor(maxBytes = Number.POSITIVE_INFINITY) {
    super();
    this.#maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const room = this.#maxBytes - this.#size;
    // Past the limit the rest is read and dropped rather than the source destroyed: destroying it
    // would fail the whole pipeline, and callers bound their sources (limitBytes on log reads).
    if (room <= 0) {
      this.#truncated = true;
      callback();
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.#truncated = true;
    this.#size += part.length;
    this.#hash.update(part);
    callback(null, part);
  }

  get size(): number {
    return this.#size;
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  /** Valid once the stream has ended. */
  digest(): string {
    return this.#hash.copy().digest("hex");
  }
}

export function toReadable(body: Readable | Buffer | string): Readable {
  if (typeof body === "string" || Buffer.isBuffer(body)) return Readable.from([Buffer.from(body)]);
  return body;
}
