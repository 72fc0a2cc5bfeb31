// Mutation testing of the security-critical modules (`npm run test:mutation`): StrykerJS with its
// vitest runner over the plain-Node unit tests (vitest.mutation.config.ts). The score per module
// is printed at the end (the "clear-text" table); see the README's design notes for the mutants
// left alive on purpose (equivalent ones).
/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutation.config.ts" },
  plugins: ["@stryker-mutator/vitest-runner"],
  mutate: [
    "shared/identity.ts",
    "shared/secrets.ts",
    "workers/auth/src/credentials.ts",
    "workers/mcp/src/tokens.ts",
    "workers/mcp/src/dispatch/names.ts",
    "shared/naming.ts",
    "workers/admin/src/csrf.ts",
    "shared/policy.ts",
    "shared/middleware/body-limit/index.ts",
    "shared/middleware/drain-body/index.ts",
    "shared/middleware/header-limit/index.ts",
    "shared/middleware/request-limits/index.ts",
    "shared/middleware/rate-limit/index.ts",
  ],
  coverageAnalysis: "perTest",
  incremental: true,
  incrementalFile: "reports/stryker-incremental.json",
  reporters: ["clear-text", "progress", "html", "json"],
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  htmlReporter: { fileName: "reports/mutation/index.html" },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: false },
  thresholds: { high: 90, low: 90, break: null },
  concurrency: 2,
  timeoutMS: 10000,
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
