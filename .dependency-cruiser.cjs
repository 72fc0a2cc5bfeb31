/**
 * Import rules, checked by `npm run lint:imports` (in CI): layers point one way.
 * - no import cycles anywhere (type-only imports included: a cycle of types is still a knot);
 * - a worker imports only its own files and shared/, never another worker (workers talk over
 *   HTTP and service bindings, not through each other's modules);
 * - shared/ never imports a worker;
 * - runtime code never imports tests, benchmarks or scripts.
 */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "Layer the modules instead (see CONTRIBUTING.md).",
      from: {},
      to: { circular: true },
    },
    {
      name: "worker-to-worker",
      severity: "error",
      comment: "A worker imports only its own modules and shared/.",
      from: { path: "^workers/([^/]+)/" },
      to: { path: "^workers/([^/]+)/", pathNot: "^workers/$1/" },
    },
    {
      name: "shared-to-worker",
      severity: "error",
      comment: "shared/ is below the workers.",
      from: { path: "^shared/" },
      to: { path: "^workers/" },
    },
    {
      name: "runtime-to-tooling",
      severity: "error",
      comment: "Runtime code never imports tests, benchmarks or scripts.",
      from: { path: "^(workers|shared)/" },
      to: { path: "^(test|bench|scripts)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".tsx", ".js", ".mjs"] },
  },
};
