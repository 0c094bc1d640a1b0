import { existsSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { createDirStore } from "../../../src/evidence/dir-store.ts";
import { retrieveArchive } from "../../../src/retriever/retrieve.ts";
import { streamingArchiveStore } from "../../../src/retriever/retriever-store.ts";

async function archiveOnNode(bytes: number): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "podmortem-node-"));
  const file = path.join(dir, "checkpoint-app.tar");
  await writeFile(file, Buffer.alloc(bytes, 7));
  return { dir, file };
}

describe("retrieveArchive", () => {
  it("removes an archive it refuses for size when removal is asked for, and says so", async () => {
    const { dir, file } = await archiveOnNode(2048);
    const store = streamingArchiveStore(createDirStore(path.join(dir, "evidence")));
    const result = await retrieveArchive(store, {
      file,
      key: "f/checkpoint-app.tar",
      maxBytes: 1024,
      deleteAfter: true,
    });
    expect(result).toEqual({
      outcome: "refused",
      reason: "archive of 2048 bytes is over maxCheckpointBytes (1024)",
      size: 2048,
      deleted: true,
    });
    expect(existsSync(file)).toBe(false);
  });

  it("keeps a refused archive when removal is not asked for", async () => {
    const { dir, file } = await archiveOnNode(2048);
    const store = streamingArchiveStore(createDirStore(path.join(dir, "evidence")));
    const result = await retrieveArchive(store, {
      file,
      key: "f/checkpoint-app.tar",
      maxBytes: 1024,
      deleteAfter: false,
    });
    expect(result).toMatchObject({ outcome: "refused", deleted: false });
    expect(existsSync(file)).toBe(true);
  });

  it("removes the archive when the last attempt's upload fails, and only then", async () => {
    const { dir, file } = await archiveOnNode(4096);
    // A store whose root is a file: every write fails (ENOTDIR), as a store that refuses does.
    await writeFile(path.join(dir, "not-a-dir"), "");
    const broken = streamingArchiveStore(createDirStore(path.join(dir, "not-a-dir")));
    const request = { file, key: "f/checkpoint-app.tar", maxBytes: 1 << 20, deleteAfter: true };
    await expect(retrieveArchive(broken, request)).rejects.toThrow(/ENOTDIR/);
    expect(existsSync(file), "an earlier attempt leaves it for the next").toBe(true);
    await expect(retrieveArchive(broken, { ...request, deleteOnFailure: true })).rejects.toThrow(
      /ENOTDIR/,
    );
    expect(existsSync(file)).toBe(false);
  });
});
