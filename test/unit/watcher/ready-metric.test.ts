import { describe, expect, it } from "vitest";

import { createWatcherMetrics } from "../../../watcher/metrics.ts";

describe("forensics_watcher_ready", () => {
  it("reads the watcher's readiness at each scrape, and is 0 before there is a watcher", async () => {
    const metrics = createWatcherMetrics();
    expect(await metrics.registry.metrics()).toMatch(/^forensics_watcher_ready 0$/m);
    let ready = true;
    metrics.reportReadiness(() => ready);
    expect(await metrics.registry.metrics()).toMatch(/^forensics_watcher_ready 1$/m);
    ready = false;
    expect(await metrics.registry.metrics()).toMatch(/^forensics_watcher_ready 0$/m);
  });
});
