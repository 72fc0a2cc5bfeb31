// Integration tests: Node drives the real system (workerd, Postgres, upstream MCP servers).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/integration/**/*.test.ts"],
    globalSetup: ["test/harness/global-setup.ts"],
    pool: "forks",
    // WebSocket for the DevTools inspector (the soak's heap check); global from Node 22 on
    execArgv: ["--experimental-websocket"],
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 90_000,
  },
});
