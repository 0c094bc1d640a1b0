import { defineConfig } from "vitest/config";

// Integration and end-to-end files each start real servers (kube-apiserver, etcd, restate-server,
// s3rver); on a 2-core machine they run one file at a time so none of them starves the others.
export default defineConfig({
  test: {
    env: { RESTATE_LOGGING: "WARN" },
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
          fileParallelism: false,
          pool: "forks",
        },
      },
    ],
  },
});
