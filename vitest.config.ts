import { defineConfig } from "vitest/config";

// Integration and end-to-end files each start real servers (kube-apiserver, etcd, restate-server,
// s3rver) on ports of their own. Two at a time on 2 cores: most of their time is waiting (polls,
// cooldowns, timers), so two files overlap it and the suite takes half as long as one at a time.
export default defineConfig({
  test: {
    env: { RESTATE_LOGGING: "WARN" },
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          pool: "forks",
        },
      },
    ],
  },
});
