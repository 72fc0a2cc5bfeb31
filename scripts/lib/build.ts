/**
 * Bundles every worker with `wrangler deploy --dry-run --outdir dist/<name>` (no login needed):
 * the same bundles run under workerd locally, in the containers and in the tests.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { baseEnv } from "./child-env";
import { ROOT, WORKER_NAMES, workerSpec, type Name } from "./workers";

/** Where bundles and workerd configs go. Default dist/; MCPGW_DIST overrides (tests use a temporary one). */
export const DIST = process.env.MCPGW_DIST ? resolve(process.env.MCPGW_DIST) : resolve(ROOT, "dist");

function run(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((res) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: baseEnv({ WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" }) });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("close", (code) => res({ code: code ?? 1, output }));
  });
}

/** Builds one worker into dist/<name>. Throws with wrangler's output on failure. */
export async function buildWorker(name: Name): Promise<string> {
  const outdir = resolve(DIST, name);
  rmSync(outdir, { recursive: true, force: true });
  const wrangler = resolve(ROOT, "node_modules/.bin/wrangler");
  const { code, output } = await run(wrangler, [
    "deploy",
    "--dry-run",
    "--outdir",
    outdir,
    "-c",
    workerSpec(name).config,
  ]);
  if (code !== 0 || !existsSync(resolve(outdir, "index.js")))
    throw new Error(`building the ${name} worker failed:\n${output}`);
  return outdir;
}

/** Builds all workers in parallel. */
export async function buildAll(names: Name[] = WORKER_NAMES): Promise<void> {
  await Promise.all(names.map(buildWorker));
}

/** Module files of a built worker, relative to its dist folder. */
export function builtModules(name: Name): string[] {
  return readdirSync(resolve(DIST, name)).filter((f) => /\.(m?js|wasm|bin|txt)$/.test(f) && f !== "README.md");
}
