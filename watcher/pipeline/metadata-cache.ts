export type PodMetadata = { projectId: string | null; workloadId: string | null };

type Entry = PodMetadata & { expiresAtMs: number };

/** `project-id` and `workload-id` of recently seen pods, by pod uid; TTL and size bounded. */
export class MetadataCache {
  #ttlMs: number;
  #maxEntries: number;
  readonly #entries = new Map<string, Entry>();

  constructor(settings: { ttlS: number; maxEntries: number }) {
    this.#ttlMs = settings.ttlS * 1000;
    this.#maxEntries = settings.maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  configure(settings: { ttlS: number; maxEntries: number }): void {
    this.#ttlMs = settings.ttlS * 1000;
    this.#maxEntries = settings.maxEntries;
  }

  remember(podUID: string, labels: Record<string, string> | undefined, nowMs: number): void {
    const projectId = labels?.["project-id"] ?? null;
    const workloadId = labels?.["workload-id"] ?? null;
    const existing = this.#entries.get(podUID);
    if (existing && existing.projectId === projectId && existing.workloadId === workloadId) {
      existing.expiresAtMs = nowMs + this.#ttlMs;
      return;
    }
    if (projectId === null && workloadId === null && !existing) return;
    this.#entries.delete(podUID);
    this.#entries.set(podUID, { projectId, workloadId, expiresAtMs: nowMs + this.#ttlMs });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  getMetadata(podUID: string, nowMs: number): PodMetadata {
    const entry = this.#entries.get(podUID);
    if (!entry) return { projectId: null, workloadId: null };
    if (entry.expiresAtMs <= nowMs) {
      this.#entries.delete(podUID);
      return { projectId: null, workloadId: null };
    }
    return { projectId: entry.projectId, workloadId: entry.workloadId };
  }

  forget(podUID: string): void {
    this.#entries.delete(podUID);
  }

  evictExpired(nowMs: number): number {
    let evicted = 0;
    for (const [uid, entry] of this.#entries) {
      if (entry.expiresAtMs > nowMs) continue;
      this.#entries.delete(uid);
      evicted += 1;
    }
    return evicted;
  }
}
