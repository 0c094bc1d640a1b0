import { describe, expect, it } from "vitest";

import { MetadataCache } from "../../../watcher/pipeline/metadata-cache.ts";

describe("MetadataCache", () => {
  it("returns a pod's project and workload ids until they expire", () => {
    const cache = new MetadataCache({ ttlS: 10, maxEntries: 100 });
    cache.remember("u1", { "project-id": "shop", "workload-id": "checkout" }, 0);
    expect(cache.getMetadata("u1", 5_000)).toEqual({ projectId: "shop", workloadId: "checkout" });
    expect(cache.getMetadata("u1", 10_001)).toEqual({ projectId: null, workloadId: null });
    expect(cache.size).toBe(0);
  });

  it("keeps nothing for pods without the labels", () => {
    const cache = new MetadataCache({ ttlS: 10, maxEntries: 100 });
    cache.remember("u1", { app: "x" }, 0);
    expect(cache.size).toBe(0);
  });

  it("evicts the oldest entries beyond its bound", () => {
    const cache = new MetadataCache({ ttlS: 60, maxEntries: 2 });
    for (const uid of ["a", "b", "c"]) cache.remember(uid, { "project-id": uid }, 0);
    expect(cache.size).toBe(2);
    expect(cache.getMetadata("a", 1).projectId).toBeNull();
    expect(cache.getMetadata("c", 1).projectId).toBe("c");
  });
});
