/**
 * Soak run: N concurrent MCP clients across T tenants against the local stack on loopback, for a
 * bounded time. Each client repeats an Open WebUI-like turn (new session: initialize, tools/list,
 * tools/call, close) and checks isolation on every answer (only its tenant's server is listed;
 * another tenant's tool is refused). workerd's RSS and open file descriptors are sampled from
 * /proc under load (reported), and compared at rest before and after the run (judged).
 *
 *   npm run soak -- --minutes 5 --clients 50 --tenants 10
 *   (DATABASE_URL set: a fresh database `mcpgw_soak_*` on that server, dropped afterwards;
 *   unset: an embedded Postgres in a temporary folder)
 *
 * Exit code 1 on any error (a 503 "unavailable" refusal included), isolation violation, or
 * resource growth past the bounds: measured at rest (no load, after a full GC through workerd's
 * inspector) after a warm-up and after the run, descriptors within {@link REST_FD_SLACK} and live
 * heap within {@link HEAP_FIXED_KB} + {@link HEAP_BYTES_PER_TURN} per turn.
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
  /**
   * Load before the measured run, so pools, JIT and caches reach their working size (its turns
   * are checked like the others but not counted in `turns`). Default 0.
   */
  warmUpMs?: number;
  /** workerd's DevTools inspector (host:port, `MCPGW_INSPECTOR`): the resting samples then include each isolate's V8 heap after a full GC. */
  inspector?: string;
  log?: (line: string) => void;
}

/** workerd at rest (no load for a moment): descriptors, RSS and, with the inspector, live heap. */
export interface RestingSample {
  fds: number;
  rssKb: number;
  /** Sum over the workers' isolates of V8's used heap after a full GC (kB); null without the inspector. */
  heapKb: number | null;
  /** The same per isolate (inspector target title, e.g. "workerd: worker mcp"), kB. */
  heapKbByIsolate?: Record<string, number>;
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
  /** At rest after the warm-up and at rest after the run (when `pid` was given). */
  rest?: { before: RestingSample; after: RestingSample };
  /** Descriptors held at rest after the run minus before it: connections in flight are closed then, so a leak shows. */
  restFdGrowth: number;
  /** Live heap (after GC, all isolates) gained over the measured run, kB; null without the inspector. */
  heapGrowthKb: number | null;
  /** What it may gain: {@link HEAP_FIXED_KB} + {@link HEAP_BYTES_PER_TURN} per turn (kB). */
  heapAllowanceKb: number;
  /**
   * True when workerd came back to rest with at most {@link REST_FD_SLACK} more descriptors and, with
   * the inspector, at most `heapAllowanceKb` more live heap.
   */
  flat: boolean;
}

/**
 * Descriptors workerd may hold at rest beyond those before the run: a Postgres pool connection
 * opened late (each worker's pool grows to PG_POOL_MAX on demand) or an upstream keep-alive
 * connection not yet closed. A leak of one per turn or per session adds hundreds.
 */
export const REST_FD_SLACK = 6;

/**
 * How much live heap (after GC, all isolates) a measured run may add: {@link HEAP_FIXED_KB} plus
 * {@link HEAP_BYTES_PER_TURN} per turn. Measured on the 25 s test (78-340 turns): about 180 kB
 * once (optimised code, structures first used at this load) and 1.5 kB per turn, nearly all in
 * the mcp isolate: the isolate caches keep each new MCP session until their bounds (its decrypted
 * session token, 10,000 entries; its ended and confirmed marks, 100,000 and 10,000; its upstream
 * session, 5,000). A turn that kept a request with its headers, a response or a parsed tools/list
 * (server-everything's is ~10 kB) would exceed it within a run of this length; a retained 1 kB
 * string per request already does (seen: 5.9 kB per turn).
 */
export const HEAP_FIXED_KB = 320;
export const HEAP_BYTES_PER_TURN = 2 * 1024;

/** Tenants, servers, groups, users and keys for a soak: tenant i has server `soak-s<i>` on `upstreamUrls[i % n]`. */
export async function seedSoak(
  sql: Sql,
  upstreamUrls: string[],
  tenants: number,
  usersPerTenant: number,
): Promise<SoakTenant[]> {
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

/**
 * workerd at rest: waits `settleMs` (default 5 s: the clients' idle keep-alive connections, 4 s in
 * Node's fetch, and finished exchanges close their sockets), then, with the
 * inspector, runs a full GC in every isolate and sums their used heap, then reads descriptors and
 * RSS. Needs Node's WebSocket for the inspector (`node --experimental-websocket` on Node 20).
 */
export async function restingSample(pid: number, inspector?: string, settleMs = 5000): Promise<RestingSample> {
  await new Promise((r) => setTimeout(r, settleMs));
  let heapKb: number | null = null;
  const heapKbByIsolate: Record<string, number> = {};
  if (inspector) {
    if (typeof WebSocket === "undefined")
      throw new Error("the heap check needs WebSocket: run node with --experimental-websocket");
    const targets = (await (await fetch(`http://${inspector}/json/list`)).json()) as {
      id: string;
      title?: string;
      webSocketDebuggerUrl: string;
    }[];
    let used = 0;
    for (const t of targets) {
      const bytes = await heapAfterGc(t.webSocketDebuggerUrl.replace("localhost", "127.0.0.1"));
      heapKbByIsolate[(t.title ?? t.id).replace(/^workerd: worker /, "")] = Math.round(bytes / 1024);
      used += bytes;
    }
    heapKb = Math.round(used / 1024);
  }
  const s = sample(pid, 0);
  if (!s) throw new Error(`workerd (pid ${pid}) is gone`);
  return { fds: s.fds, rssKb: s.rssKb, heapKb, ...(inspector ? { heapKbByIsolate } : {}) };
}

/**
 * One isolate's used V8 heap (bytes) after a full garbage collection, over the DevTools protocol.
 * workerd's inspector does not answer `HeapProfiler.collectGarbage`; a heap snapshot starts with a
 * full GC, so one is taken (its chunks, a few MB, are dropped) and the usage read after it.
 */
async function heapAfterGc(url: string): Promise<number> {
  const ws = new WebSocket(url);
  await new Promise((ok, fail) => {
    ws.addEventListener("open", ok);
    ws.addEventListener("error", fail);
  });
  let next = 1;
  const waiting = new Map<number, (v: unknown) => void>();
  ws.addEventListener("message", (e: MessageEvent) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown };
    if (m.id !== undefined) waiting.get(m.id)?.(m.result);
  });
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<any>((ok, fail) => {
      const id = next++;
      const timer = setTimeout(() => fail(new Error(`inspector: ${method} unanswered`)), 30_000);
      waiting.set(id, (v) => (clearTimeout(timer), ok(v)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    return ((await send("Runtime.getHeapUsage")) as { usedSize: number }).usedSize;
  } finally {
    ws.close();
  }
}

const percentile = (xs: number[], p: number) =>
  xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]! : 0;

/**
 * Waits (at most `timeoutMs`) until one user of every tenant sees its server's echo tool: the
 * catalog lists each upstream once at first use, which is not what a soak should measure.
 */
export async function warmUp(url: string, tenants: SoakTenant[], timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const tenant of tenants) {
    for (;;) {
      const c = new Client({ name: "soak-warm-up", version: "1" });
      const transport = new StreamableHTTPClientTransport(new URL(url + "/mcp"), {
        requestInit: { headers: { Authorization: `Bearer ${tenant.keys[0]!}` } },
      });
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

/**
 * Runs the clients for `warmUpMs`, then (with `pid`) takes a resting sample, runs them for
 * `durationMs`, and takes another; never throws for a failed request (it is reported).
 */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
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
  let measuring = false;
  let sampler: ReturnType<typeof setInterval> | undefined;
  const progress = setInterval(
    () =>
      log(
        `${Math.round((Date.now() - t0) / 1000)} s: ${turns} turns, ${errors.length} errors, ${violations.length} isolation violations${samples.length ? `, rss ${samples.at(-1)!.rssKb} kB, fds ${samples.at(-1)!.fds}` : ""}`,
      ),
    10_000,
  );

  const rq = { timeout: o.requestTimeoutMs ?? 30_000 };
  async function client(n: number, deadline: number) {
    const ti = n % o.tenants.length;
    const tenant = o.tenants[ti]!;
    const other = o.tenants[(ti + 1) % o.tenants.length]!;
    const key = tenant.keys[Math.floor(n / o.tenants.length) % tenant.keys.length]!;
    let turn = 0;
    while (Date.now() < deadline) {
      const started = Date.now();
      const c = new Client({ name: `soak-${n}`, version: "1" });
      const transport = new StreamableHTTPClientTransport(new URL(o.url + "/mcp"), {
        requestInit: { headers: { Authorization: `Bearer ${key}` } },
      });
      try {
        await timed("connect", c.connect(transport, rq));
        requests += 2;
        const tools = (await timed("list", c.listTools(undefined, rq))).tools;
        requests++;
        const foreign = tools.filter((t) => !t.name.startsWith(`${tenant.server}__`));
        if (foreign.length)
          violations.push(`client ${n} (${tenant.server}) listed ${foreign.map((t) => t.name).join(", ")}`);
        if (!tools.some((t) => t.name === `${tenant.server}__echo`))
          errors.push(`client ${n}: ${tenant.server}__echo not listed`);
        const message = `soak ${n}/${turn}`;
        const r = (await timed(
          "call",
          c.callTool({ name: `${tenant.server}__echo`, arguments: { message } }, undefined, rq),
        )) as { content?: { text?: string }[]; isError?: boolean };
        requests++;
        if (r.isError || !JSON.stringify(r.content).includes(message))
          errors.push(`client ${n}: echo answered ${JSON.stringify(r).slice(0, 200)}`);
        if (other !== tenant && turn % 5 === 0) {
          const probe = await timed(
            "probe",
            c.callTool({ name: `${other.server}__echo`, arguments: { message: "leak?" } }, undefined, rq),
          ).then(
            (x) => x as { content?: unknown; isError?: boolean },
            () => null,
          );
          requests++;
          if (probe && !probe.isError)
            violations.push(
              `client ${n} (${tenant.server}) called ${other.server}__echo: ${JSON.stringify(probe).slice(0, 200)}`,
            );
        }
        await timed(
          "close",
          transport.terminateSession().catch(() => {}),
        );
        requests++;
        if (measuring) {
          turns++;
          latencies.push(Date.now() - started);
        }
      } catch (err) {
        const m = `client ${n} turn ${turn}: ${(err as Error).message}`.slice(0, 300);
        (/"code":-326\d\d,"message":"[^"]*(unavailable|unreachable)[^"]*try again shortly/.test(m)
          ? unavailable
          : errors
        ).push(m);
      } finally {
        await c.close().catch(() => {});
      }
      turn++;
    }
  }
  const phase = (ms: number) => {
    const deadline = Date.now() + ms;
    return Promise.all(Array.from({ length: o.clients }, (_, n) => client(n, deadline)));
  };

  if (o.warmUpMs) await phase(o.warmUpMs);
  const before = o.pid ? await restingSample(o.pid, o.inspector) : undefined;
  const measuredFrom = Date.now();
  measuring = true;
  if (o.pid)
    sampler = setInterval(() => {
      const s = sample(o.pid!, measuredFrom);
      if (s) samples.push(s);
    }, o.sampleMs ?? 1000);
  await phase(o.durationMs);
  measuring = false;
  clearInterval(progress);
  if (sampler) clearInterval(sampler);
  const after = o.pid ? await restingSample(o.pid, o.inspector) : undefined;
  // in-flight figures, for the report: medians of two windows of the measured run, so one
  // sample (a GC pause, a burst) decides nothing
  const window = (from: number, to: number) =>
    samples.filter((s) => s.atMs >= o.durationMs * from && s.atMs <= o.durationMs * to + 5000);
  const median = (xs: Sample[]): Sample | undefined => {
    if (!xs.length) return undefined;
    const m = (k: "rssKb" | "fds") => [...xs].map((s) => s[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    return { atMs: xs[Math.floor(xs.length / 2)]!.atMs, rssKb: m("rssKb"), fds: m("fds") };
  };
  const warm = median(window(0.25, 0.5)) ?? samples[0];
  const last = median(window(0.75, 1)) ?? samples.at(-1);
  const fdGrowth = warm && last ? last.fds - warm.fds : 0;
  const rssGrowthPct = warm && last && warm.rssKb ? ((last.rssKb - warm.rssKb) / warm.rssKb) * 100 : 0;
  const restFdGrowth = before && after ? after.fds - before.fds : 0;
  const heapGrowthKb = before?.heapKb != null && after?.heapKb != null ? after.heapKb - before.heapKb : null;
  const heapAllowanceKb = Math.round(HEAP_FIXED_KB + (HEAP_BYTES_PER_TURN * turns) / 1024);
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
    rest: before && after ? { before, after } : undefined,
    restFdGrowth,
    heapGrowthKb,
    heapAllowanceKb,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    steps: Object.fromEntries(
      Object.entries(stepTimes).map(([k, v]) => [
        k,
        { p50: percentile(v, 0.5), p95: percentile(v, 0.95), max: Math.max(...v) },
      ]),
    ),
    flat: restFdGrowth <= REST_FD_SLACK && (heapGrowthKb === null || heapGrowthKb <= heapAllowanceKb),
  };
}

/** One line per fact, for people and CI logs. */
export function formatReport(r: SoakReport): string {
  const lines = [
    `turns ${r.turns}, HTTP requests ~${r.requests}, turn latency p50 ${r.p50} ms, p95 ${r.p95} ms`,
    `steps (p50/p95/max ms): ${Object.entries(r.steps)
      .map(([k, v]) => `${k} ${v.p50}/${v.p95}/${v.max}`)
      .join(", ")}`,
    `errors ${r.errors.length}, refused as unavailable (503) ${r.unavailable.length}, isolation violations ${r.isolationViolations.length}`,
  ];
  if (r.warm && r.last)
    lines.push(
      `workerd under load (median): rss ${r.warm.rssKb} kB, fds ${r.warm.fds} early; rss ${r.last.rssKb} kB (${r.rssGrowthPct.toFixed(1)}%), fds ${r.last.fds} (${r.fdGrowth >= 0 ? "+" : ""}${r.fdGrowth}) late`,
    );
  if (r.rest) {
    const by =
      r.rest.before.heapKbByIsolate && r.rest.after.heapKbByIsolate
        ? ` [${Object.keys(r.rest.after.heapKbByIsolate)
            .map((k) => `${k} ${r.rest!.before.heapKbByIsolate![k]}->${r.rest!.after.heapKbByIsolate![k]}`)
            .join(", ")}]`
        : "";
    const heap =
      r.rest.before.heapKb !== null
        ? `, live heap ${r.rest.before.heapKb} -> ${r.rest.after.heapKb} kB${by} (+${r.heapGrowthKb} kB, ${((r.heapGrowthKb! * 1024) / Math.max(1, r.turns)).toFixed(0)} bytes per turn; bound ${r.heapAllowanceKb} kB)`
        : "";
    lines.push(
      `workerd at rest before / after: fds ${r.rest.before.fds} -> ${r.rest.after.fds} (bound +${REST_FD_SLACK}), rss ${r.rest.before.rssKb} -> ${r.rest.after.rssKb} kB${heap} -> ${r.flat ? "flat" : "GROWING"}`,
    );
  }
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
  // workerd's inspector: the resting samples read each isolate's live heap after a full GC
  const { freePort } = await import("./lib/ports");
  const inspector = `127.0.0.1:${await freePort()}`;
  process.env.MCPGW_INSPECTOR = inspector;
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
    const seeded = await seedSoak(
      sql,
      upstreams.map((u) => u.url),
      tenants,
      Math.max(1, Math.ceil(clients / tenants)),
    );
    await sql.end();
    await warmUp(stack.url, seeded);
    say(
      `${clients} clients across ${tenants} tenants for ${seconds} s against ${stack.url} (workerd pid ${stack.workerd.child.pid})`,
    );
    const warmUpMs = Math.min(60_000, Math.max(10_000, seconds * 100)); // 10% of the run, 10-60 s
    const report = await runSoak({
      url: stack.url,
      tenants: seeded,
      clients,
      durationMs: seconds * 1000,
      warmUpMs,
      pid: stack.workerd.child.pid,
      inspector,
      sampleMs: 5000,
      log: say,
    });
    console.log(formatReport(report));
    if (report.errors.length || report.unavailable.length || report.isolationViolations.length || !report.flat)
      code = 1;
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
