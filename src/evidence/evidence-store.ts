import type { Readable } from "node:stream";

export type StoredArtifact = {
  key: string;
  uri: string;
  size: number;
  sha256: string;
  /** The body was longer than maxBytes and was cut there. */
  truncated: boolean;
};

export type PutOptions = { contentType?: string; maxBytes?: number };

/** What a conditional create found: its own new object, or the bytes someone wrote before. */
export type CreateOutcome = { created: StoredArtifact } | { existing: Buffer };

/** Where evidence goes: S3 in production, a local folder for development. */
export type EvidenceStore = {
  /** Where the store writes, for logs and answers; never carries credentials. */
  describe(): string;
  uri(key: string): string;
  /** Streams the body in, hashing and counting on the way; memory does not grow with its size. */
  put(key: string, body: Readable | Buffer | string, options?: PutOptions): Promise<StoredArtifact>;
  /**
   * Writes a small document only where nothing is yet (a conditional create): the caller decides
   * what an existing document means, e.g. a replay finding its own custody.json.
   */
  create(key: string, body: string, options?: PutOptions): Promise<CreateOutcome>;
  get(key: string): Promise<Readable>;
  /**
   * A URL that opens one object without credentials until it expires (S3 only; a directory
   * store has none). A bearer link: it is made where it is sent, never kept in a journal.
   */
  presignGet?(key: string, expiresS: number): Promise<string>;
  head(key: string): Promise<{ size: number } | undefined>;
  list(prefix: string): Promise<string[]>;
};
