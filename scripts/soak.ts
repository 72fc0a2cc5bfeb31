/**
 * Soak run: N concurrent MCP clients across T tenants against the local stack on loopback, for a
 * bounded time. Each client repeats an Open WebUI-like turn (new session: initialize, tools/list,
 * tools/call, close) and checks isolation on every answer (only its tenant's server is listed;
 * another tenant's tool is refused). workerd's RSS and open file descriptors are sampled from
 * /proc to show they stay flat.
 *
 *   npm run soak -- --minutes 5 --clients 50 --tenants 10
 *   (DATABASE_URL set: a fresh database `mcpgw_soak_*` on that server, dropped afterwards;
 *   unset: an embedded Postgres in a temporary folder)
 *
 * Exit code 1 on any error (a 503 "unavailable" refusal included), isolation violation, or
 * resource growth past the thresholds.
 * `runSoak` is also used by test/integration/soak.test.ts (the short form in `npm test`).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Sql } from "../shared/db";
import { generateApiKey, insertApiKey } from "../shared/repos/apikeys.repo";

export interface SoakTenant {
  server: string;
  keys: string[];
}

export interface SoakOptions {
  /** Longest wait for one MCP request before it counts as an error. Default 30000 ms. */
  requestTimeoutMs?: number;
  /** Public origin of the stack. */
  url: string;
  tenants: SoakTenant[];
  clients: number;
  durationMs: number;
  /** workerd's pid, to sample /proc/<pid>. */
  pid?: number;
  /** Sampling interval. Default 1000 ms. */
  sampleMs?: number;
  log?: (line: string) => void;
}

export interface Sample {
  atMs: number;
  rssKb: number;
  fds: number;
}

export interface SoakReport {
  turns: number;
  requests: number;
  /** Failed turns other than `unavailable`: wrong answers, timeouts, crashes. */
  errors: string[];
  /** Turns refused with a clean "unavailable, try again shortly" JSON-RPC error (503). */
  unavailable: string[];
  isolationViolations: string[];
  samples: Sample[];
  /** Resource use after warm-up (median of 25-50% of the run) and at the end (median of 75-100%). */
  warm?: Sample;
  last?: Sample;
  fdGrowth: number;
  rssGrowthPct: number;
  /** Turn latency percentiles (ms). */
  p50: number;
  p95: number;
  /** Latency percentiles per step of a turn (ms): connect, list, call, probe, close. */
  steps: Record<string, { p50: number; p95: number; max: number }>;
  /** True when, from warm-up to the end, fds grew by at most max(25, 20%) and RSS by at most 25%. */
  flat: boolean;
}

/** Tenants, servers, groups, users and keys for a soak: tenant i has server `soak-s<i>` on `upstreamUrls[i % n]`. */
export async function seedSoak(sql: Sql, upstreamUrls: string[], tenants: number, usersPerTenant: number): Promise<SoakTenant[]> {
  const out: SoakTenant[] = [];
  for (let i = 0; i < tenants; i++) {
    const tenant = `soak-t${i}`;
    const server = `soak-s${i}`;
    const group = `soak-g${i}`;
    await sql`INSERT INTO tenants (id, name) VALUES (${tenant}, ${`Soak tenant ${i}`}) ON CONFLICT (id) DO NOTHING`;
    await sql`INSERT INTO servers (id, tenant_id, url, headers) VALUES (${server}, ${tenant}, ${upstreamUrls[i % upstreamUrls.length]!}, ${sql.json({ "X-Soak-Tenant": tenant })}) ON CONFLICT (id) DO NOTHING`;
    await sql`INSERT INTO groups (name) VALUES (${group}) ON CONFLICT DO NOTHING`;
    await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES (${group}, ${tenant}) ON CONFLICT DO NOTHING`;
    const keys: string[] = [];
    for (let j = 0; j < usersPerTenant; j++) {
      const email = `soak-u${i}-${j}@soak.test`;
      await sql`INSERT INTO users (email) VALUES (${email}) ON CONFLICT DO NOTHING`;
      await sql`INSERT INTO user_group_membership (user_email, group_name) VALUES (${email}, ${group}) ON CONFLICT DO NOTHING`;
      const k = await generateApiKey();
      await insertApiKey(sql, email, "soak", k);
      keys.push(k.key);
    }
    out.push({ server, keys });
  }
  return out;
}

function sample(pid: number, t0: number): Sample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    return { atMs: Date.now() - t0, rssKb, fds };
  } catch {
    return null;
  }
}

const percentile = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]! : 0);

/**
 * Waits (at most `timeoutMs`) until one user of every tenant sees its server's echo tool: the
 * catalog lists each upstream once at first use, which is not what a soak should measure.
 */
export async function warmUp(url: string, tenants: SoakTenant[], timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const tenant of tenants) {
    for (;;) {
      const c = new Client({ name: "soak-warm-up", version: "1" });
      const transport = new StreamableHTTPClientTransport(new URL(url + "/mcp"), { requestInit: { headers: { Authorization: `Bearer ${tenant.keys[0]!}` } } });
      const ok = await c
        .connect(transport)
        .then(() => c.listTools())
        .then((r) => r.tools.some((t) => t.name === `${tenant.server}__echo`))
        .catch(() => false);
      await transport.terminateSession().catch(() => {});
      await c.close().catch(() => {});
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`warm-up: ${tenant.server} not listed within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Runs the clients until `durationMs` has passed; never throws for a failed request (it is reported). */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
  const deadline = t0 + o.durationMs;
  const samples: Sample[] = [];
  const errors: string[] = [];
  const unavailable: string[] = [];
  const violations: string[] = [];
  const latencies: number[] = [];
  const stepTimes: Record<string, number[]> = {};
  const timed = async <T>(step: string, p: Promise<T>): Promise<T> => {
    const s0 = Date.now();
    try {
      return await p;
    } finally {
      (stepTimes[step] ??= []).push(Date.now() - s0);
    }
  };
  let turns = 0;
  let requests = 0;
  const sampler = o.pid
    ? setInterval(() => {
        const s = sample(o.pid!, t0);
        if (s) samples.push(s);
      }, o.sampleMs ?? 1000)
    : undefined;
  const progress = setInterval(() => log(`${Math.round((Date.now() - t0) / 1000)} s: ${turns} turns, ${errors.length} errors, ${violations.length} isolation violations${samples.length ? `, rss ${samples.at(-1)!.rssKb} kB, fds ${samples.at(-1)!.fds}` : ""}`), 10_000);

  const rq = { timeout: o.requestTimeoutMs ?? 30_000 };
  async function client(n: number) {
    const ti = n % o.tenants.length;
    const tenant = o.tenants[ti]!;
    const other = o.tenants[(ti + 1) % o.tenants.length]!;
    const key = tenant.keys[Math.floor(n / o.tenants.length) % tenant.keys.length]!;
    let turn = 0;
    while (Date.now() < deadline) {
      const started = Date.now();
      const c = new Client({ name: `soak-${n}`, version: "1" });
      const transport = new StreamableHTTPClientTransport(new URL(o.url + "/mcp"), { requestInit: { headers: { Authorization: `Bearer ${key}` } } });
      try {
        await timed("connect", c.connect(transport, rq));
        requests += 2;
        const tools = (await timed("list", c.listTools(undefined, rq))).tools;
        requests++;
        const foreign = tools.filter((t) => !t.name.startsWith(`${tenant.server}__`));
        if (foreign.length) violations.push(`client ${n} (${tenant.server}) listed ${foreign.map((t) => t.name).join(", ")}`);
        if (!tools.some((t) => t.name === `${tenant.server}__echo`)) errors.push(`client ${n}: ${tenant.server}__echo not listed`);
        const message = `soak ${n}/${turn}`;
        const r = (await timed("call", c.callTool({ name: `${tenant.server}__echo`, arguments: { message } }, undefined, rq))) as { content?: { text?: string }[]; isError?: boolean };
        requests++;
        if (r.isError || !JSON.stringify(r.content).includes(message)) errors.push(`client ${n}: echo answered ${JSON.stringify(r).slice(0, 200)}`);
        if (other !== tenant && turn % 5 === 0) {
          const probe = await timed("probe", c.callTool({ name: `${other.server}__echo`, arguments: { message: "leak?" } }, undefined, rq)).then(
            (x) => x as { content?: unknown; isError?: boolean },
            () => null,
          );
          requests++;
          if (probe && !probe.isError) violations.push(`client ${n} (${tenant.server}) called ${other.server}__echo: ${JSON.stringify(probe).slice(0, 200)}`);
        }
        await timed("close", transport.terminateSession().catch(() => {}));
        requests++;
        turns++;
        latencies.push(Date.now() - started);
      } catch (err) {
        const m = `client ${n} turn ${turn}: ${(err as Error).message}`.slice(0, 300);
        (/"code":-326\d\d,"message":"[^"]*(unavailable|unreachable)[^"]*try again shortly/.test(m) ? unavailable : errors).push(m);
      } finally {
        await c.close().catch(() => {});
      }
      turn++;
    }
  }

  await Promise.all(Array.from({ length: o.clients }, (_, n) => client(n)));
  clearInterval(progress);
  if (sampler) clearInterval(sampler);
  if (o.pid) {
    await new Promise((r) => setTimeout(r, 1000)); // let finished exchanges close their sockets
    const s = sample(o.pid, t0);
    if (s) samples.push(s);
  }
  // medians of two windows, so one sample (a GC pause, a burst) decides nothing:
  // after warm-up (25-50% of the run) and at the end (75-100%, plus the settled sample)
  const window = (from: number, to: number) => samples.filter((s) => s.atMs >= o.durationMs * from && s.atMs <= o.durationMs * to + 5000);
  const median = (xs: Sample[]): Sample | undefined => {
    if (!xs.length) return undefined;
    const m = (k: "rssKb" | "fds") => [...xs].map((s) => s[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    return { atMs: xs[Math.floor(xs.length / 2)]!.atMs, rssKb: m("rssKb"), fds: m("fds") };
  };
  const warm = median(window(0.25, 0.5)) ?? samples[0];
  const last = median(window(0.75, 1)) ?? samples.at(-1);
  const fdGrowth = warm && last ? last.fds - warm.fds : 0;
  const rssGrowthPct = warm && last && warm.rssKb ? ((last.rssKb - warm.rssKb) / warm.rssKb) * 100 : 0;
  return {
    turns,
    requests,
    errors,
    unavailable,
    isolationViolations: violations,
    samples,
    warm,
    last,
    fdGrowth,
    rssGrowthPct,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    steps: Object.fromEntries(Object.entries(stepTimes).map(([k, v]) => [k, { p50: percentile(v, 0.5), p95: percentile(v, 0.95), max: Math.max(...v) }])),
    flat: fdGrowth <= Math.max(25, (warm?.fds ?? 0) * 0.2) && rssGrowthPct <= 25,
  };
}

/** One line per fact, for people and CI logs. */
export function formatReport(r: SoakReport): string {
  const lines = [
    `turns ${r.turns}, HTTP requests ~${r.requests}, turn latency p50 ${r.p50} ms, p95 ${r.p95} ms`,
    `steps (p50/p95/max ms): ${Object.entries(r.steps).map(([k, v]) => `${k} ${v.p50}/${v.p95}/${v.max}`).join(", ")}`,
    `errors ${r.errors.length}, refused as unavailable (503) ${r.unavailable.length}, isolation violations ${r.isolationViolations.length}`,
  ];
  if (r.warm && r.last) lines.push(`workerd after warm-up (median): rss ${r.warm.rssKb} kB, fds ${r.warm.fds}; at the end: rss ${r.last.rssKb} kB (${r.rssGrowthPct.toFixed(1)}%), fds ${r.last.fds} (${r.fdGrowth >= 0 ? "+" : ""}${r.fdGrowth}) -> ${r.flat ? "flat" : "GROWING"}`);
  for (const e of [...r.isolationViolations, ...r.errors, ...r.unavailable].slice(0, 20)) lines.push(`  ${e}`);
  return lines.join("\n");
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? Number(process.argv[i + 1]) : fallback;
}

async function main() {
  const { startStack } = await import("./lib/stack");
  const { startEverything } = await import("./lib/upstreams");
  const minutes = arg("minutes", 5);
  const seconds = arg("seconds", minutes * 60);
  const clients = arg("clients", 50);
  const tenants = arg("tenants", 10);
  const upstreamCount = arg("upstreams", 2);
  const say = (l: string) => console.log(`[soak] ${l}`);
  const dataDir = mkdtempSync(join(tmpdir(), "mcpgw-soak-"));
  const { createSql } = await import("../shared/db");
  // never seed into the given database itself: a fresh one on the same server, dropped at the end
  let databaseUrl: string | undefined;
  let dropDatabase = async () => {};
  if (process.env.DATABASE_URL) {
    const { createScratchDatabase } = await import("./lib/database");
    const scratch = await createScratchDatabase(process.env.DATABASE_URL, "mcpgw_soak");
    databaseUrl = scratch.url;
    dropDatabase = scratch.drop;
  }
  const upstreams = await Promise.all(Array.from({ length: upstreamCount }, (_, i) => startEverything(`soak-up${i}`)));
  say(`upstreams: ${upstreams.map((u) => u.url).join(", ")}`);
  const stack = await startStack({
    port: 0,
    demo: false,
    databaseUrl,
    dataDir,
    log: say,
    // the limit stays on (its code runs) but high enough for one user's back-to-back turns
    env: { RATE_LIMIT_PER_MINUTE: "1000000" },
  }).catch(async (err) => {
    await Promise.all(upstreams.map((u) => u.proc.stop()));
    await dropDatabase();
    throw err;
  });
  let code = 0;
  try {
    const sql = createSql(stack.databaseUrl, { max: 2 });
    const seeded = await seedSoak(sql, upstreams.map((u) => u.url), tenants, Math.max(1, Math.ceil(clients / tenants)));
    await sql.end();
    await warmUp(stack.url, seeded);
    say(`${clients} clients across ${tenants} tenants for ${seconds} s against ${stack.url} (workerd pid ${stack.workerd.child.pid})`);
    const report = await runSoak({ url: stack.url, tenants: seeded, clients, durationMs: seconds * 1000, pid: stack.workerd.child.pid, sampleMs: 5000, log: say });
    console.log(formatReport(report));
    if (report.errors.length || report.unavailable.length || report.isolationViolations.length || !report.flat) code = 1;
  } finally {
    await stack.stop();
    await Promise.all(upstreams.map((u) => u.proc.stop()));
    await dropDatabase();
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.exit(code);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(`[soak] ${(err as Error).message}`);
    process.exit(1);
  });
}
