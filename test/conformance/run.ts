/**
 * `npm run test:conformance`: the official MCP conformance suites, each run twice - directly
 * against a conformant upstream, and through the gateway (the `npm start` stack: edge, auth,
 * mcp, catalog under workerd, real Postgres) at `/mcp/<server>` - then a side-by-side table of
 * passed and failed checks with the names of the failures.
 *
 *   suite                                              upstream (scripts/lib/modern-upstream.ts, SDK 2.x)
 *   @modelcontextprotocol/conformance@0.1.16           `legacy`: the 2025 session era only (sessions,
 *     server --suite all --spec-version 2025-11-25       SSE resumption); npm's server-everything lacks
 *                                                        the suite's test_* tools
 *   @modelcontextprotocol/conformance@0.2.0-alpha.12   `modern`: 2026-07-28 only, stateless
 *     server --requirements 2026-07-28
 *
 * The suites need Node 22 and run on it (fetched from npm, cached: ./toolchain.ts); they send no
 * credentials, so the gateway is reached through ./auth-proxy.ts, which adds a test user's API key.
 *
 * Options: `--suite 2025-11-25|2026-07-28` (repeatable; default both), `--target direct|gateway`
 * (default both). DATABASE_URL picks the Postgres server (else an embedded one under
 * .data/conformance); CONFORMANCE_NO_BUILD=1 reuses the bundled workers.
 *
 * Exit code 1 when a direct run fails a scored check (the upstream is not conformant, so the
 * comparison means nothing), when a suite could not run, or when the gateway passes fewer checks
 * than test/conformance/baseline.json records (a regression); raise the baseline as it improves.
 */
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { createSql } from "../../shared/db";
import { seedTenantUser } from "../../bench/seed";
import {
  createScratchDatabase,
  openDatabase,
  startEmbedded,
  type Database,
  type ScratchDatabase,
} from "../../scripts/lib/database";
import { startModernUpstream, type ModernUpstream } from "../../scripts/lib/modern-upstream";
import { startStack, type Stack } from "../../scripts/lib/stack";
import { ROOT } from "../../scripts/lib/workers";
import { startAuthProxy, type AuthProxy } from "./auth-proxy";
import { notScoredOf, readRun, table, type RunResult } from "./report";
import { CACHE_DIR, installSuites, node22, SUITES, type SuiteId } from "./toolchain";

const say = (s: string) => console.log(`[conformance] ${s}`);
/** A suite run that takes longer than this is stopped (a hung scenario must not hang CI). */
const RUN_TIMEOUT_MS = 15 * 60 * 1000;

interface Baseline {
  [suite: string]: { gateway: { minPassed: number } };
}

function options(): { suites: SuiteId[]; targets: ("direct" | "gateway")[] } {
  const { values } = parseArgs({
    options: { suite: { type: "string", multiple: true }, target: { type: "string", multiple: true } },
  });
  const suites = (values.suite ?? Object.keys(SUITES)) as SuiteId[];
  for (const s of suites)
    if (!(s in SUITES)) throw new Error(`--suite must be one of ${Object.keys(SUITES).join(", ")}`);
  const targets = (values.target ?? ["direct", "gateway"]) as ("direct" | "gateway")[];
  for (const t of targets) if (t !== "direct" && t !== "gateway") throw new Error("--target must be direct or gateway");
  return { suites, targets };
}

/** One suite run: `node22 <suite> server --url <url> <args> -o <outDir>`, output kept in <outDir>.log. */
function runSuite(node: string, entry: string, id: SuiteId, url: string, outDir: string): Promise<number | null> {
  mkdirSync(outDir, { recursive: true });
  const logFile = createWriteStream(`${outDir}.log`);
  return new Promise((resolveRun) => {
    const child = spawn(node, [entry, "server", "--url", url, ...SUITES[id].args, "-o", outDir], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    child.stdout.pipe(logFile);
    child.stderr.pipe(logFile);
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      logFile.end();
      resolveRun(code);
    });
  });
}

async function main(): Promise<number> {
  const { suites, targets } = options();
  const node = node22(say);
  const entries = installSuites(say);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = resolve(CACHE_DIR, "results", stamp);
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    // the conformant upstreams
    let legacy: ModernUpstream | undefined;
    let modern: ModernUpstream | undefined;
    if (suites.includes("2025-11-25")) {
      legacy = await startModernUpstream({ eras: "legacy" });
      cleanups.push(() => legacy!.stop());
    }
    if (suites.includes("2026-07-28")) {
      modern = await startModernUpstream({ eras: "modern" });
      cleanups.push(() => modern!.stop());
    }
    const upstreamUrl: Record<SuiteId, string | undefined> = { "2025-11-25": legacy?.url, "2026-07-28": modern?.url };
    const serverId: Record<SuiteId, string> = { "2025-11-25": "legacy", "2026-07-28": "modern" };

    // the gateway in front of them, with a user allowed to use both
    let proxy: AuthProxy | undefined;
    if (targets.includes("gateway")) {
      let db: Database;
      if (process.env.DATABASE_URL) db = await openDatabase();
      else {
        say("starting an embedded Postgres (data under .data/conformance/pg)");
        db = await startEmbedded(resolve(ROOT, ".data/conformance/pg"));
      }
      cleanups.push(() => db.stop());
      const scratch: ScratchDatabase = await createScratchDatabase(db.url, "mcpgw_conformance");
      cleanups.push(() => scratch.drop());
      say("starting the gateway (bundling the workers, workerd, migrations)");
      const stack: Stack = await startStack({
        port: 0,
        demo: false,
        databaseUrl: scratch.url,
        dataDir: resolve(ROOT, ".data/conformance"),
        localIdp: false,
        build: process.env.CONFORMANCE_NO_BUILD !== "1",
        env: { RATE_LIMIT_PER_MINUTE: "0" },
        log: () => {},
      });
      cleanups.push(() => stack.stop());
      const sql = createSql(scratch.url, { max: 1 });
      const servers = suites.map((s) => ({ id: serverId[s], url: upstreamUrl[s]! }));
      const key = await seedTenantUser(sql, {
        tenant: "conformance",
        name: "Conformance",
        servers,
        email: "conformance@example.test",
      });
      await sql.end({ timeout: 2 });
      proxy = await startAuthProxy(`http://127.0.0.1:${stack.port}`, key);
      cleanups.push(() => proxy!.stop());
      say(`gateway on ${stack.url}, reached by the suites through ${proxy.origin} (adds the test user's API key)`);
    }

    const rows: { suite: string; upstream: string; direct?: RunResult; gateway?: RunResult }[] = [];
    const summary: Record<string, unknown> = {};
    for (const id of suites) {
      const notScored =
        id === "2026-07-28"
          ? notScoredOf(readFileSync(resolve(entries[id], "../../requirements/2026-07-28.yaml"), "utf8"))
          : new Set<string>();
      const row: (typeof rows)[number] = {
        suite: `${id} (conformance@${SUITES[id].version})`,
        upstream: id === "2025-11-25" ? "modern-upstream --eras legacy" : "modern-upstream --eras modern",
      };
      for (const target of targets) {
        const url = target === "direct" ? upstreamUrl[id]! : `${proxy!.origin}/mcp/${serverId[id]}`;
        const outDir = resolve(resultsDir, `${id}-${target}`);
        say(
          `running the ${id} suite ${target === "direct" ? "directly against" : "through the gateway to"} the upstream (${url})`,
        );
        const code = await runSuite(node, entries[id], id, url, outDir);
        const result = readRun(outDir, code, notScored);
        if (!result.passed.length && !result.failed.length)
          result.error ??= `the suite ran no checks (exit ${code}); see ${outDir}.log`;
        row[target] = result;
        summary[`${id}/${target}`] = {
          passed: result.passed.length,
          failed: result.failed.map((c) => `${c.scenario}:${c.id}`),
          warnings: result.warnings.map((c) => `${c.scenario}:${c.id}`),
          notScored: {
            passed: result.notScored.passed.length,
            failed: result.notScored.failed.map((c) => `${c.scenario}:${c.id}`),
          },
          exitCode: code,
          error: result.error,
        };
      }
      rows.push(row);
    }
    writeFileSync(resolve(resultsDir, "summary.json"), JSON.stringify(summary, null, 2));
    console.log("\n" + table(rows).join("\n") + "\n");
    say(`results: ${resultsDir}`);

    // what makes the run fail
    const baseline = JSON.parse(readFileSync(resolve(ROOT, "test/conformance/baseline.json"), "utf8")) as Baseline;
    const problems: string[] = [];
    for (const [i, id] of suites.entries()) {
      const row = rows[i]!;
      if (row.direct?.error) problems.push(`${id} direct: ${row.direct.error}`);
      else if (row.direct && row.direct.failed.length + row.direct.warnings.length)
        problems.push(
          `${id} direct: the upstream does not pass ${row.direct.failed.length + row.direct.warnings.length} checks (it must pass them all)`,
        );
      if (row.gateway?.error) problems.push(`${id} gateway: ${row.gateway.error}`);
      const min = baseline[id]?.gateway.minPassed ?? 0;
      if (row.gateway && !row.gateway.error && row.gateway.passed.length < min)
        problems.push(
          `${id} gateway: ${row.gateway.passed.length} checks passed, fewer than the baseline's ${min} (test/conformance/baseline.json)`,
        );
    }
    for (const p of problems) say(`FAILED: ${p}`);
    return problems.length ? 1 : 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`[conformance] error: ${(err as Error).message}`);
    process.exit(1);
  },
);
