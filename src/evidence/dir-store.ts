import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { link, mkdir, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";

import type { EvidenceStore, PutOptions, StoredArtifact } from "./evidence-store.ts";
import { HashingLimiter, sha256Hex, toReadable } from "./hashing.ts";

const PARTIAL_MARKER = ".partial-";

function safeJoin(root: string, key: string): string {
  const target = path.resolve(root, key);
  if (!target.startsWith(`${path.resolve(root)}${path.sep}`)) {
    throw new Error(`evidence key escapes the store: ${key}`);
  }
  return target;
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files = await Promise.all(
    entries.map(async (entry) => {
      const full = path.join(dir, entry.name);
      return entry.isDirectory() ? walk(full) : [full];
    }),
  );
  return files.flat();
}

/** The evidence layout under a local folder, for development and single-node use. */
export function createDirStore(rootDir: string): EvidenceStore {
  const root = path.resolve(rootDir);
  const uri = (key: string) => pathToFileURL(safeJoin(root, key)).href;
  return {
    describe: () => pathToFileURL(root).href,
    uri,
    async put(key, body, options: PutOptions = {}): Promise<StoredArtifact> {
      const target = safeJoin(root, key);
      await mkdir(path.dirname(target), { recursive: true });
      // A crash mid-write leaves a temp file, never a half file under the final name; flushing
      // before the rename keeps that true across a power loss too.
      const temp = `${target}${PARTIAL_MARKER}${randomUUID()}`;
      const limiter = new HashingLimiter(options.maxBytes);
      try {
        await pipeline(toReadable(body), limiter, createWriteStream(temp, { flush: true }));
        await rename(temp, target);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
      return {
        key,
        uri: uri(key),
        size: limiter.size,
        sha256: limiter.digest(),
        truncated: limiter.truncated,
      };
    },
    async create(key, body) {
      const target = safeJoin(root, key);
      await mkdir(path.dirname(target), { recursive: true });
      const bytes = Buffer.from(body);
      const temp = `${target}${PARTIAL_MARKER}${randomUUID()}`;
      try {
        await writeFile(temp, bytes, { flush: true });
        // link() fails with EEXIST where rename() would replace: the file system's create-if-absent.
        await link(temp, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST")
          return { existing: await readFile(target) };
        throw error;
      } finally {
        await rm(temp, { force: true });
      }
      return {
        created: {
          key,
          uri: uri(key),
          size: bytes.length,
          sha256: sha256Hex(bytes),
          truncated: false,
        },
      };
    },
    async get(key): Promise<Readable> {
      const target = safeJoin(root, key);
      await stat(target);
      return createReadStream(target);
    },
    async head(key) {
      try {
        return { size: (await stat(safeJoin(root, key))).size };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw error;
      }
    },
    async list(prefix) {
      const files = await walk(root);
      return files
        .map((file) => path.relative(root, file).split(path.sep).join("/"))
        .filter((key) => key.startsWith(prefix) && !key.includes(PARTIAL_MARKER))
        .sort();
    },
  };
}
