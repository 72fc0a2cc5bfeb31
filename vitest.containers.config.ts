// `npm run test:containers` (test/containers/run.ts): the images built from compose/Dockerfile and
// the compose stack run under Podman. One file, sequential: it builds images and starts containers.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/containers/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
    // a test that stops or removes a container may wait up to 120 s, more than once, for
    // Podman's DNS to answer again (stack.test.ts namesResolve)
    testTimeout: 420_000,
    hookTimeout: 900_000,
  },
});
