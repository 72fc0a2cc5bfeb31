// `npm run test:containers` (test/containers/run.ts): the images built from compose/Dockerfile and
// the compose stack run under Podman. One file, sequential: it builds images and starts containers.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/containers/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 900_000,
  },
});
