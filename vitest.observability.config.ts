// `npm run test:observability` (test/observability/run.ts): the gateway scraped by a real
// Prometheus (Debian's `prometheus`). The integration tests' global setup (Postgres, the bundle).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/observability/**/*.test.ts"],
    globalSetup: ["test/harness/global-setup.ts"],
    pool: "forks",
    maxWorkers: 1,
    testTimeout: 150_000,
    hookTimeout: 120_000,
  },
});
