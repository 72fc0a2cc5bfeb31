// Plain-Node unit tests of the security-critical pure modules, the test set StrykerJS mutates
// against (stryker.config.mjs; `npm run test:mutation`). Stryker's vitest runner cannot drive the
// Workers pool (vitest.workers.config.ts), and these modules are plain TypeScript on Web Crypto,
// which Node 20 has. The same files also run inside workerd with `npm run test:unit`.
import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

export const MUTATION_TESTS = [
  "test/unit/identity.test.ts",
  "test/unit/identity.mutation.test.ts",
  "test/unit/secrets.test.ts",
  "test/unit/secrets.mutation.test.ts",
  "test/integration/credentials-decisions.test.ts",
  "test/unit/tokens.mutation.test.ts",
  "test/unit/naming.test.ts",
  "test/unit/names.mutation.test.ts",
  "test/unit/csrf.mutation.test.ts",
  "test/unit/access.test.ts",
  "test/unit/access.mutation.test.ts",
  "shared/middleware/body-limit/index.test.ts",
  "shared/middleware/drain-body/index.test.ts",
  "shared/middleware/header-limit/index.test.ts",
  "shared/middleware/request-limits/index.test.ts",
  "shared/middleware/rate-limit/index.test.ts",
  "test/unit/limits.mutation.test.ts",
];

export default defineConfig({
  // workerd's own module, which a worker module of the set imports (test/harness/no-sockets.ts)
  resolve: { alias: { "cloudflare:sockets": resolve(__dirname, "test/harness/no-sockets.ts") } },
  test: {
    include: MUTATION_TESTS,
    environment: "node",
    pool: "threads",
    // test/integration/credentials-decisions.test.ts keeps this database between runs (see there)
    env: { CREDENTIALS_TEST_DATABASE: "gw_mutation_credentials" },
  },
});
