/**
 * `npm run bench`: the same MCP workloads run directly against an upstream MCP server (the SDK's,
 * from npm: bench/upstream.ts) and through the full chain (edge -> forwardAuth -> auth -> mcp ->
 * catalog -> upstream, one workerd process, real Postgres), so each result is a ratio as well as
 * a time:
 * - an Open WebUI turn (new session: initialize, tools/list, tools/call, close), c=1 and c=50, and
 *   at c=1 without the per-user session pool (`owui_turn_nopool_c1`: MCP_SESSION_POOL_SECONDS=0)
 *   and through the runtime's floor (`floor_owui_turn_c1`; `floor1_owui_turn_c1`: one forwarding
 *   worker alone);
 * - a 2026-07-28 client's tools/call (SDK 2.x) to a modern upstream (SDK 2.x server), c=1, also
 *   through the runtime's floor in front of that upstream (`floor_modern_call_c1`);
 * - an auto-mode SDK 2.x client's turn against the session-era upstream, counting its failed
 *   `server/discover` probes (a fallback to initialize) directly and through the gateway;
 * - tools/call in an open session, c=1 and c=50, and at c=1 to a server under review
 *   (`call_held_c1`: the pin checked upstream before every call) and through the runtime's floor
 *   (`floor_call_c1`: bench/floor.ts, the chain's three workers forwarding and nothing else);
 * - tools/list of 1,000 tools across 20 servers (the gateway's /mcp, paged), c=1 and c=50;
 * - the hops on their own (edge -> auth forwardAuth; the catalog's internal answer) at c=1;
 * - the cost for one user with 10 / 1,000 / 10,000 users and 1 / 100 tenants in the database.
 * At c=1 the direct and the gateway side run side by side (one operation of each in turn), the
 * direct side against its own copy of the upstream. Also: p50/p99/mean/rps and errors of each,
 * Postgres sessions and transactions per gateway request (pg_stat_database), the peak resident memory of the workerd process, the machine and
 * its load. Prints a table and writes JSON to bench/results/. Bounded in time: every workload
 * stops at its request count or time budget, whichever comes first (3-4 minutes on 2 cores,
 * bundling included).
 *
 * BENCH_SCALE=0.05 shortens every workload and BENCH_CONCURRENCY=5 lowers the c=50 ones (the smoke
 * test does both); DATABASE_URL picks the
 * Postgres server (else the embedded one); BENCH_NO_BUILD=1 reuses the bundled workers;
 * BENCH_ONLY=owui_turn_c1,owui_turn_nopool_c1 runs only the workloads named (`scale` names the
 * database-size part).
 */
import { setMaxListeners } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { resolve } from "node:path";
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createSql } from "../shared/db";
import { decideReview, listReviews } from "../shared/repos/review.repo";
import { SERVICE_ASSERTION_HEADER, signServiceAssertion } from "../shared/service-auth";
import { createScratchDatabase, openDatabase, startEmbedded } from "../scripts/lib/database";
import { startStack } from "../scripts/lib/stack";
import { startModern, type Upstream } from "../scripts/lib/upstreams";
import { ROOT } from "../scripts/lib/workers";
import {
  connectionSampler,
  measure,
  measurePair,
  memorySampler,
  pgCounters,
  round,
  type Load,
  type Stats,
} from "./measure";
import { throughFloor } from "./floor";
import { seedTenantUser } from "./seed";
import { startBenchUpstream, type BenchUpstream } from "./upstream";

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
/** The "c=50" workloads' concurrency (BENCH_CONCURRENCY lowers it for the smoke test). */
const C50 = Math.max(2, Number(process.env.BENCH_CONCURRENCY ?? 50));
/** Wait for pg_stat_database to take in a workload's counts (it is updated about every second). */
const STATS_SETTLE_MS = SCALE < 0.1 ? 300 : 1100;
if (!(SCALE > 0)) throw new Error("BENCH_SCALE must be a positive number");
/** Request count and time budget of a workload, scaled. */
const size = (total: number, seconds: number) => ({
  total: Math.max(3, Math.round(total * SCALE)),
  budgetMs: Math.max(300, seconds * 1000 * SCALE),
});

// the SDK client adds an abort listener per request of a long session; its warning is noise here
setMaxListeners(1_000_000);

/** BENCH_ONLY: the workloads to run (all when unset). */
const ONLY = (process.env.BENCH_ONLY ?? "")
  .split(",")
  .map((x) => x.trim())
  .filter(Boolean);
const want = (name: string) => ONLY.length === 0 || ONLY.includes(name);

const t0 = Date.now();
const load0 = loadavg();
const results: Record<string, unknown> = {};
const rows: string[][] = [];
const say = (s: string) => console.log(s);

async function connect(url: string, key?: string): Promise<Client> {
  const client = new Client({ name: "bench", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: key ? { authorization: `Bearer ${key}` } : {} },
  });
  await client.connect(transport);
  return client;
}

/** What Open WebUI does on every chat turn: a new session, the tool list, one call, close. */
async function owuiTurn(url: string, key?: string) {
  const client = await connect(url, key);
  try {
    await client.listTools();
    const r = await client.callTool({ name: "tool_0", arguments: { text: "hi" } });
    if (r.isError) throw new Error("tool call failed");
    await (client.transport as StreamableHTTPClientTransport).terminateSession();
  } finally {
    await client.close();
  }
}

async function call(c: Client) {
  const r = await c.callTool({ name: "tool_0", arguments: { text: "hi" } });
  if (r.isError) throw new Error("tool call failed");
}
const close = (c: Client) => c.close();

/** An SDK 2.x client (`auto`: probes server/discover, falls back to initialize), its requests' methods counted. */
async function connect2(
  url: string,
  key: string | undefined,
  seen?: { discover: number; initialize: number },
): Promise<Client2> {
  const counting: typeof fetch = async (input, init) => {
    if (seen && init?.method === "POST" && typeof init.body === "string") {
      const method = (JSON.parse(init.body) as { method?: string }).method;
      if (method === "server/discover") seen.discover++;
      if (method === "initialize") seen.initialize++;
    }
    return fetch(input, init);
  };
  const client = new Client2({ name: "bench-sdk2", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(
    new Transport2(new URL(url), {
      fetch: counting,
      requestInit: { headers: key ? { authorization: `Bearer ${key}` } : {} },
    }),
  );
  return client;
}

/** A 2026-07-28 client's call to the modern upstream's plain tool. */
async function modernCall(c: Client2) {
  const r = await c.callTool({ name: "test_simple_text", arguments: {} });
  if (r.isError) throw new Error("tool call failed");
}

/**
 * An auto-mode client's turn (connect with the probe, tools/list, tools/call, close); a probe that
 * failed is one followed by initialize (the fallback).
 */
async function autoTurn(url: string, key: string | undefined, probes: { turns: number; failed: number }) {
  const seen = { discover: 0, initialize: 0 };
  const client = await connect2(url, key, seen);
  try {
    await client.listTools();
    const r = await client.callTool({ name: "tool_0", arguments: { text: "hi" } });
    if (r.isError) throw new Error("tool call failed");
  } finally {
    await client.close();
  }
  probes.turns++;
  probes.failed += Math.min(seen.discover, seen.initialize);
}

/** Every page of tools/list; throws when fewer than `expect` tools come back. */
async function listAll(c: Client, expect: number) {
  let cursor: string | undefined;
  let count = 0;
  do {
    const page = await c.listTools(cursor ? { cursor } : {});
    count += page.tools.length;
    cursor = page.nextCursor;
  } while (cursor);
  if (count < expect) throw new Error(`listed only ${count} tools`);
}

const fmt = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? "-" : String(x));

/** Records a workload measured directly and through the gateway (with Postgres cost per gateway request). */
function record(
  name: string,
  label: string,
  direct: Stats | null,
  gateway: Stats,
  pg?: { sessions: number; xacts: number },
) {
  const perReq =
    pg && gateway.count
      ? {
          sessions: round(pg.sessions / (gateway.count + gateway.errors), 2),
          xacts: round(pg.xacts / (gateway.count + gateway.errors), 2),
        }
      : null;
  const entry = {
    label,
    direct,
    gateway,
    ratio_p50: direct ? round(gateway.p50 / direct.p50) : null,
    added_p50_ms: direct ? round(gateway.p50 - direct.p50) : null,
    added_p99_ms: direct ? round(gateway.p99 - direct.p99) : null,
    throughput_ratio: direct ? round(gateway.rps / direct.rps) : null,
    postgres_per_gateway_request: perReq,
  };
  results[name] = entry;
  rows.push([
    name,
    fmt(direct?.p50),
    fmt(direct?.p99),
    fmt(direct?.rps),
    fmt(gateway.p50),
    fmt(gateway.p99),
    fmt(gateway.rps),
    entry.ratio_p50 === null ? "-" : `${entry.ratio_p50}x`,
    fmt(entry.added_p50_ms),
    fmt(entry.added_p99_ms),
    `${(direct?.errors ?? 0) + gateway.errors}`,
    perReq ? `${perReq.sessions}/${perReq.xacts}` : "-",
  ]);
  const errs = (s: Stats | null, who: string) => (s?.errors ? `; ${who} errors ${s.errors}: ${s.error}` : "");
  say(
    `  ${label}: direct p50 ${fmt(direct?.p50)} ms, gateway p50 ${gateway.p50} ms p99 ${gateway.p99} ms ${gateway.rps}/s${errs(direct, "direct")}${errs(gateway, "gateway")}`,
  );
}

// its own embedded Postgres (data under .data/bench/pg) unless DATABASE_URL names a server
const db = process.env.DATABASE_URL ? await openDatabase() : await startEmbedded(resolve(ROOT, ".data/bench/pg"));
const scratch = await createScratchDatabase(db.url, "mcpgw_bench");
const dbName = scratch.name;
const dbUrl = scratch.url;
const upstreams: BenchUpstream[] = [];
let modernUpstream: Upstream | undefined;
let stack: Awaited<ReturnType<typeof startStack>> | undefined;
let memory: ReturnType<typeof memorySampler> | undefined;
let failed: unknown;
try {
  say(`starting the stack (bundling, workerd, Postgres${db.embedded ? " embedded" : ""}); scale ${SCALE}`);
  stack = await startStack({
    port: 0,
    demo: false,
    databaseUrl: dbUrl,
    dataDir: resolve(ROOT, ".data/bench"),
    internalPort: 0,
    localIdp: false,
    // one user drives every workload: a per-user limit far above it keeps the limiter (and its
    // Postgres sync) in the path without refusing the benchmark's requests
    // (the same for the per-user cap on concurrent upstream calls: the c=50 workloads are one user's)
    env: { RATE_LIMIT_PER_MINUTE: "100000000", MAX_CONCURRENT_CALLS_PER_USER: "1000" },
    build: process.env.BENCH_NO_BUILD !== "1",
    log: () => {},
  });
  memory = memorySampler(stack.workerd.child.pid);
  const sql = createSql(dbUrl, { max: 4 });
  const one = await startBenchUpstream(1);
  upstreams.push(one);
  // the direct side's own copy of the same upstream: the gateway's counts (sessions, listings) stay its own
  const alone = await startBenchUpstream(1);
  upstreams.push(alone);
  const key = await seedTenantUser(sql, {
    tenant: "bench",
    name: "Bench",
    servers: [{ id: "bench", url: one.url }],
    email: "bench@example.com",
  });
  const gw = `${stack.url}/mcp/bench`;

  /**
   * Measures the direct and the gateway side of a workload, counting Postgres work on the gateway
   * side. At c=1 the two run side by side, one operation of each in turn (measurePair), so the
   * machine's drift during the run weighs on both; at higher concurrency one after the other.
   */
  const both = async <C, D>(name: string, label: string, direct: Load<C> | null, gateway: Load<D>) => {
    if (!want(name)) return;
    say(label);
    const paired = direct !== null && direct.concurrency === 1 && gateway.concurrency === 1;
    const directAlone = direct && !paired ? await measure(direct) : null;
    await new Promise((r) => setTimeout(r, STATS_SETTLE_MS)); // let pg_stat_database catch up
    const before = await pgCounters(sql, dbName);
    const open = connectionSampler(sql, dbName);
    const opened0 = one.stats.opened;
    const [d, g] = paired ? await measurePair(direct, gateway) : [directAlone, await measure(gateway)];
    // upstream sessions the bench upstream initialized during the gateway run (warm-up included)
    const openedUpstream = one.stats.opened - opened0;
    const conns = open.stop();
    await new Promise((r) => setTimeout(r, STATS_SETTLE_MS));
    const after = await pgCounters(sql, dbName);
    record(name, label, d, g, { sessions: after.sessions - before.sessions, xacts: after.xacts - before.xacts - 1 });
    const ops = g.count + g.errors + gateway.concurrency;
    Object.assign(results[name] as Record<string, unknown>, {
      concurrency: gateway.concurrency,
      side_by_side: paired,
      postgres_open_connections: conns,
      upstream_sessions_opened_per_op: round(openedUpstream / ops, 2),
    });
    if (name.startsWith("owui_turn"))
      say(`    upstream sessions the gateway opened: ${openedUpstream} for ${ops} turns (warm-up included)`);
    if (gateway.concurrency > 1)
      say(`    Postgres connections open during the gateway run: peak ${conns.peak}, mean ${conns.mean}`);
  };

  const turn = (url: string, k?: string, s = size(150, 10), concurrency = 1): Load<null> => ({
    ...s,
    concurrency,
    setup: async () => null,
    op: () => owuiTurn(url, k),
  });
  const calls = (url: string, k?: string, s = size(2000, 8), concurrency = 1): Load<Client> => ({
    ...s,
    concurrency,
    setup: () => connect(url, k),
    op: call,
    teardown: close,
  });

  // side by side: the Open WebUI turn without the session pool first (workerd restarted with
  // MCP_SESSION_POOL_SECONDS=0, then again with the default), then with it
  if (want("owui_turn_nopool_c1")) {
    stack.workerEnv.MCP_SESSION_POOL_SECONDS = "0";
    await stack.restartWorkerd();
    await both(
      "owui_turn_nopool_c1",
      "Open WebUI turn without the session pool (MCP_SESSION_POOL_SECONDS=0), c=1",
      turn(alone.url),
      turn(gw, key),
    );
    delete stack.workerEnv.MCP_SESSION_POOL_SECONDS;
    await stack.restartWorkerd();
    memory.stop();
    memory = memorySampler(stack.workerd.child.pid);
  }
  await both(
    "owui_turn_c1",
    "Open WebUI turn (new session, initialize, tools/list, tools/call, close), c=1",
    turn(alone.url),
    turn(gw, key),
  );
  // the same turn through the runtime's floor: what three workers that only forward cost a turn
  // of six requests, the least a gateway built of these workers could add here
  for (const [name, workers] of [
    ["floor_owui_turn_c1", 3],
    ["floor1_owui_turn_c1", 1],
  ] as const) {
    if (!want(name)) continue;
    await throughFloor(one.url, { workers }, (url) =>
      both(
        name,
        workers === 3
          ? "Open WebUI turn through the runtime's floor (bench/floor.ts), c=1"
          : "Open WebUI turn through one workerd worker that only forwards (bench/floor.ts, workers: 1), c=1",
        turn(alone.url),
        turn(url),
      ),
    );
  }

  // a 2026-07-28 client (SDK 2.x, auto negotiation ends modern) and a modern upstream (SDK 2.x server)
  if (want("modern_call_c1") || want("floor_modern_call_c1")) {
    modernUpstream = await startModern("bench-modern", "modern");
    const modernKey = await seedTenantUser(sql, {
      tenant: "modern",
      name: "Modern",
      servers: [{ id: "modern", url: modernUpstream.url }],
      email: "modern@example.com",
    });
    const modernCalls = (url: string, k?: string): Load<Client2> => ({
      ...size(2000, 8),
      concurrency: 1,
      setup: async () => {
        const c = await connect2(url, k);
        if (c.getProtocolEra() !== "modern")
          throw new Error(`${url}: negotiated ${c.getProtocolEra()}, not the modern era`);
        return c;
      },
      op: modernCall,
      teardown: (c) => c.close(),
    });
    await both(
      "modern_call_c1",
      "2026-07-28 client's tools/call (SDK 2.x) to a modern upstream (SDK 2.x server), c=1",
      modernCalls(modernUpstream.url),
      modernCalls(`${stack.url}/mcp/modern`, modernKey),
    );
    // the same call through the runtime's floor: the modern upstream (an SDK 2.x server in Node)
    // costs far more CPU per call than the session-era bench upstream, on the same 2 cores as
    // workerd, so the floor to read modern_call_c1 against is the one in front of this upstream
    if (want("floor_modern_call_c1")) {
      const up = modernUpstream.url;
      await throughFloor(up, {}, (url) =>
        both(
          "floor_modern_call_c1",
          "2026-07-28 client's tools/call through the runtime's floor to the modern upstream, c=1",
          modernCalls(up),
          modernCalls(url),
        ),
      );
    }
  }

  // an auto-mode client's turn against the session-era upstream: directly its probe fails every
  // turn (the upstream knows no server/discover); the gateway answers it
  if (want("auto_turn_c1")) {
    const probes = { direct: { turns: 0, failed: 0 }, gateway: { turns: 0, failed: 0 } };
    const autoTurns = (url: string, k: string | undefined, p: { turns: number; failed: number }): Load<null> => ({
      ...size(150, 10),
      concurrency: 1,
      setup: async () => null,
      op: () => autoTurn(url, k, p),
    });
    await both(
      "auto_turn_c1",
      "auto-mode SDK 2.x client's turn (probe, tools/list, tools/call, close) to the session-era upstream, c=1",
      autoTurns(alone.url, undefined, probes.direct),
      autoTurns(gw, key, probes.gateway),
    );
    const per = (p: { turns: number; failed: number }) => (p.turns ? round(p.failed / p.turns, 2) : null);
    Object.assign(results.auto_turn_c1 as Record<string, unknown>, {
      failed_probes_per_turn: { direct: per(probes.direct), gateway: per(probes.gateway) },
      probes,
    });
    say(
      `    failed server/discover probes per turn: direct ${fmt(per(probes.direct))}, gateway ${fmt(per(probes.gateway))} (${probes.gateway.failed} of ${probes.gateway.turns} turns)`,
    );
  }
  await both("call_c1", "tools/call in an open session, c=1", calls(alone.url), calls(gw, key));
  // the same call through the runtime's floor: the chain's three workers doing nothing but forwarding
  if (want("floor_call_c1")) {
    await throughFloor(one.url, {}, (url) =>
      both(
        "floor_call_c1",
        "tools/call in an open session through the runtime's floor (bench/floor.ts: front -> auth, front -> proxy -> upstream, nothing else), c=1",
        calls(alone.url),
        calls(url),
      ),
    );
  }

  // the same call to a server under review (issue 15): the gateway lists the tool upstream before
  // each call and forwards only while it still hashes to the approved pin (workers/mcp/src/bridge/pin.ts)
  if (want("call_held_c1")) {
    await sql`INSERT INTO servers (id, tenant_id, url, review) VALUES ('bench-held', 'bench', ${one.url}, 'hold')`;
    const held = `${stack.url}/mcp/bench-held`;
    // the first listing asks for one approval of the whole set: approve it as an admin would
    let set: { id: number } | undefined;
    for (let i = 0; i < 100 && !set; i++) {
      const c = await connect(held, key);
      await c.listTools();
      await c.close();
      [set] = (await listReviews(sql, "bench-held", "pending")) as { id: number }[];
      if (!set) await new Promise((r) => setTimeout(r, 100));
    }
    if (!set) throw new Error("bench-held: no initial review to approve");
    await sql.begin((tx) => decideReview(tx, "bench-held", set.id, "approve", "bench"));
    for (let i = 0; i < 100; i++) {
      const c = await connect(held, key);
      const listed = (await c.listTools()).tools.length;
      await c.close();
      if (listed) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const lists0 = one.stats.lists;
    await both(
      "call_held_c1",
      "tools/call in an open session to a server under review (pin checked upstream per call), c=1",
      calls(alone.url),
      calls(held, key),
    );
    const g = (results.call_held_c1 as { gateway: Stats }).gateway;
    const plain = (results.call_c1 as { gateway: Stats } | undefined)?.gateway;
    const listsPerCall = g.count ? round((one.stats.lists - lists0) / (g.count + g.errors + 1), 2) : null;
    Object.assign(results.call_held_c1 as Record<string, unknown>, {
      upstream_lists_per_call: listsPerCall,
      added_vs_auto_p50_ms: plain ? round(g.p50 - plain.p50) : null,
    });
    say(
      `    under review vs auto (call_c1): p50 +${fmt(plain ? round(g.p50 - plain.p50) : null)} ms; upstream tools/list per call ${fmt(listsPerCall)}`,
    );
  }
  await both(
    "call_c50",
    `tools/call in open sessions, c=${C50}`,
    calls(alone.url, undefined, size(5000, 8), C50),
    calls(gw, key, size(5000, 8), C50),
  );
  await both(
    "owui_turn_c50",
    `Open WebUI turn, c=${C50}`,
    turn(alone.url, undefined, size(1000, 8), C50),
    turn(gw, key, size(1000, 8), C50),
  );

  // the hops on their own, c=1: the edge alone, edge -> auth (the identify step of forwardAuth;
  // /auth/verify itself is not routed publicly), and the catalog's answer on its own socket
  const get =
    (url: string, status: number, init: RequestInit = {}) =>
    async () => {
      const res = await fetch(url, init);
      await res.arrayBuffer();
      if (res.status !== status) throw new Error(`${url} answered ${res.status}`);
    };
  await both("hop_edge_c1", "hop: the edge alone (an unrouted path, 404 from the edge), c=1", null, {
    ...size(2000, 4),
    concurrency: 1,
    setup: async () => null,
    op: get(`${stack.url}/no-such-route`, 404),
  });
  await both("hop_edge_auth_c1", "hop: edge -> auth identify (GET /auth/me with the API key), c=1", null, {
    ...size(2000, 6),
    concurrency: 1,
    setup: async () => null,
    op: get(`${stack.url}/auth/me`, 200, { headers: { authorization: `Bearer ${key}`, accept: "application/json" } }),
  });
  // with the service assertion the mcp worker sends (reused for half its lifetime, as there)
  const assertion = await signServiceAssertion(stack.workerEnv.SERVICE_SECRET!, "mcp", "catalog");
  await both("hop_catalog_c1", "hop: the catalog's answer for one user (its own socket, no edge), c=1", null, {
    ...size(2000, 6),
    concurrency: 1,
    setup: async () => null,
    op: get(`${stack.internalUrl}/internal/catalog/bench%40example.com`, 200, {
      headers: { [SERVICE_ASSERTION_HEADER]: assertion },
    }),
  });

  if (want("list_1000_c1") || want("list_1000_c50")) {
    say("tools/list of 1,000 tools across 20 servers: starting 20 upstreams of 50 tools");
    const wide: BenchUpstream[] = [];
    for (let i = 0; i < 20; i++) {
      const u = await startBenchUpstream(50);
      upstreams.push(u);
      wide.push(u);
    }
    const wideKey = await seedTenantUser(sql, {
      tenant: "wide",
      name: "Wide",
      servers: wide.map((u, i) => ({ id: `wide-${i}`, url: u.url })),
      email: "wide@example.com",
    });
    const directLists = (concurrency: number, s: { total: number; budgetMs: number }): Load<Client[]> => ({
      ...s,
      concurrency,
      setup: () => Promise.all(wide.map((u) => connect(u.url))),
      op: async (cs) => {
        for (const c of cs) await listAll(c, 50);
      },
      teardown: async (cs) => void (await Promise.all(cs.map((c) => c.close()))),
    });
    const gwList = (concurrency: number, s: { total: number; budgetMs: number }): Load<Client> => ({
      ...s,
      concurrency,
      setup: () => connect(`${stack!.url}/mcp`, wideKey),
      op: (c) => listAll(c, 1000),
      teardown: close,
    });
    await both(
      "list_1000_c1",
      "tools/list of 1,000 tools (20 servers; direct: 20 sessions listed in turn; gateway: /mcp paged), warm, c=1",
      directLists(1, size(200, 8)),
      gwList(1, size(200, 8)),
    );
    await both(
      "list_1000_c50",
      `tools/list of 1,000 tools, c=${C50}`,
      directLists(C50, size(500, 6)),
      gwList(C50, size(500, 6)),
    );
  }

  if (want("scale")) {
    say("cost for one user as the database grows (Open WebUI turn and tools/call of bench@example.com)");
    const scale: Record<string, { owui_turn: Stats; call: Stats }> = {};
    let users = 2;
    let tenants = 2;
    for (const [u, t] of [
      [10, 1],
      [1000, 1],
      [10000, 1],
      [10000, 100],
    ] as const) {
      if (u > users) {
        await sql`INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(${users}::int, ${u - 1}::int) g`;
        await sql`INSERT INTO user_group_membership (user_email, group_name) SELECT 'user' || g || '@example.com', CASE WHEN g % 2 = 0 THEN 'bench-users' ELSE 'wide-users' END FROM generate_series(${users}::int, ${u - 1}::int) g`;
        users = u;
      }
      if (t > 1 && tenants < t + 1) {
        // 100 tenants: the bench tenant, the wide one and 98 more, each with a group and a server
        await sql`INSERT INTO tenants (id, name) SELECT 'extra-' || g, 'Extra ' || g FROM generate_series(1, ${t - 2}::int) g`;
        await sql`INSERT INTO groups (name) SELECT 'extra-' || g FROM generate_series(1, ${t - 2}::int) g`;
        await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) SELECT 'extra-' || g, 'extra-' || g FROM generate_series(1, ${t - 2}::int) g`;
        await sql`INSERT INTO servers (id, tenant_id, url, enabled) SELECT 'extra-' || g, 'extra-' || g, ${one.url}, false FROM generate_series(1, ${t - 2}::int) g`;
        tenants = t + 1;
      }
      const label = `${u} users, ${t === 1 ? "1 tenant (+1 for the list workload)" : `${t} tenants`}`;
      const owui = await measure(turn(gw, key, size(60, 4)));
      const c = await measure(calls(gw, key, size(500, 2)));
      scale[`${u}_users_${t}_tenants`] = { owui_turn: owui, call: c };
      say(
        `  ${label}: Open WebUI turn p50 ${owui.p50} ms p99 ${owui.p99} ms; tools/call p50 ${c.p50} ms p99 ${c.p99} ms${owui.errors + c.errors ? `; errors ${owui.errors + c.errors}: ${owui.error ?? c.error}` : ""}`,
      );
    }
    results.scale = scale;
  }
  await sql.end();
} catch (err) {
  failed = err;
} finally {
  results.workerd = {
    peak_rss_mb: memory?.peakMb() ?? null,
    rss_at_end_mb: memory?.currentMb() ?? null,
    processes: memory?.processes() ?? 0,
  };
  memory?.stop();
  await stack?.stop();
  for (const u of upstreams) await u.close();
  await modernUpstream?.proc.stop();
  await scratch.drop();
  await db.stop();
}

const TARGETS = [
  {
    name: "tools/call c=1 added p50 <= 1 ms",
    value: (results.call_c1 as { added_p50_ms?: number } | undefined)?.added_p50_ms,
    limit: 1,
    unit: "ms",
  },
  {
    name: "tools/call c=1 added p99 <= 5 ms",
    value: (results.call_c1 as { added_p99_ms?: number } | undefined)?.added_p99_ms,
    limit: 5,
    unit: "ms",
  },
  {
    name: "Open WebUI turn <= 1.5x direct (p50, c=1)",
    value: (results.owui_turn_c1 as { ratio_p50?: number } | undefined)?.ratio_p50,
    limit: 1.5,
    unit: "x",
  },
  {
    name: "throughput at c=50 >= 0.6x direct (tools/call)",
    value: (results.call_c50 as { throughput_ratio?: number } | undefined)?.throughput_ratio,
    limit: 0.6,
    unit: "x",
    atLeast: true,
  },
  {
    name: "tools/list of 1,000 tools <= 5 ms p50 warm",
    value: (results.list_1000_c1 as { gateway?: Stats } | undefined)?.gateway?.p50,
    limit: 5,
    unit: "ms",
  },
].map((t) => ({
  ...t,
  met:
    t.value === undefined || t.value === null || Number.isNaN(t.value)
      ? null
      : t.atLeast
        ? t.value >= t.limit
        : t.value <= t.limit,
}));
results.targets = TARGETS;
type Entry =
  | {
      ratio_p50?: number;
      added_p50_ms?: number;
      added_p99_ms?: number;
      failed_probes_per_turn?: { gateway: number | null };
    }
  | undefined;
const entry = (name: string) => results[name] as Entry;
const TARGETS_12 = [
  {
    name: "Open WebUI turn <= 1.2x direct (p50, c=1, with the session pool)",
    value: entry("owui_turn_c1")?.ratio_p50,
    limit: 1.2,
    unit: "x",
  },
  {
    name: "(for comparison) Open WebUI turn without the pool, p50 ratio",
    value: entry("owui_turn_nopool_c1")?.ratio_p50,
    limit: null,
    unit: "x",
  },
  {
    name: "(for comparison) Open WebUI turn through the runtime's floor, p50 ratio",
    value: entry("floor_owui_turn_c1")?.ratio_p50,
    limit: null,
    unit: "x",
  },
  {
    name: "(for comparison) Open WebUI turn through one forwarding worker, p50 ratio",
    value: entry("floor1_owui_turn_c1")?.ratio_p50,
    limit: null,
    unit: "x",
  },
  {
    name: "2026-07-28 tools/call to a modern upstream c=1 added p50 <= 1 ms",
    value: entry("modern_call_c1")?.added_p50_ms,
    limit: 1,
    unit: "ms",
  },
  {
    name: "2026-07-28 tools/call to a modern upstream c=1 added p99 <= 5 ms",
    value: entry("modern_call_c1")?.added_p99_ms,
    limit: 5,
    unit: "ms",
  },
  {
    name: "auto-mode client: failed probes per turn through the gateway = 0",
    value: entry("auto_turn_c1")?.failed_probes_per_turn?.gateway ?? undefined,
    limit: 0,
    unit: "",
  },
].map((t) => ({
  ...t,
  met:
    t.limit === null || t.value === undefined || t.value === null || Number.isNaN(t.value) ? null : t.value <= t.limit,
}));
results.targets_issue12 = TARGETS_12;

// the figures above read against the runtime's floor: what three workers cost doing nothing else
// in front of the same upstream
const floorAdded = entry("floor_call_c1")?.added_p50_ms;
const modernFloorAdded = entry("floor_modern_call_c1")?.added_p50_ms;
const overFloor = (w: string, floor: number | undefined) => {
  const a = entry(w)?.added_p50_ms;
  return a === undefined || floor === undefined ? undefined : round(a - floor);
};
results.floor = {
  added_p50_ms: floorAdded,
  modern_added_p50_ms: modernFloorAdded,
  call_c1_added_over_floor_p50_ms: overFloor("call_c1", floorAdded),
  modern_call_c1_added_over_floor_p50_ms: overFloor("modern_call_c1", modernFloorAdded),
};

const header = [
  "workload",
  "direct p50",
  "direct p99",
  "direct rps",
  "gw p50",
  "gw p99",
  "gw rps",
  "p50 ratio",
  "added p50",
  "added p99",
  "errors",
  "pg conn/xact per req",
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
say(
  "\nlatencies in ms; rps = completed operations per second; pg = Postgres sessions opened / transactions per gateway operation",
);
say(line(header));
for (const r of rows) say(line(r));
const scale = results.scale as Record<string, { owui_turn: Stats; call: Stats }> | undefined;
if (scale) {
  say("\ncost for one user by database size: Open WebUI turn p50/p99, tools/call p50/p99 (ms)");
  for (const [k, v] of Object.entries(scale))
    say(`  ${k.replace(/_/g, " ")}: ${v.owui_turn.p50} / ${v.owui_turn.p99}, ${v.call.p50} / ${v.call.p99}`);
}
const wd = results.workerd as { peak_rss_mb: number | null; processes: number };
say(`\npeak resident memory of the workerd process: ${wd.peak_rss_mb} MB (${wd.processes} process)`);
say("targets (issue 7):");
for (const t of TARGETS)
  say(`  ${t.met === null ? "n/a " : t.met ? "met " : "MISS"} ${t.name}: ${fmt(t.value)}${t.unit}`);
say("targets (issue 12):");
for (const t of TARGETS_12)
  say(
    `  ${t.limit === null ? "    " : t.met === null ? "n/a " : t.met ? "met " : "MISS"} ${t.name}: ${fmt(t.value)}${t.unit}`,
  );
if (floorAdded !== undefined || modernFloorAdded !== undefined) {
  say("the runtime's floor (the chain's three workers forwarding, nothing else, in front of the same upstream):");
  if (floorAdded !== undefined) {
    say(`       tools/call added p50 through the floor (floor_call_c1): ${fmt(floorAdded)}ms`);
    say(`       the gateway's own work over it, tools/call (call_c1): ${fmt(overFloor("call_c1", floorAdded))}ms`);
  }
  if (modernFloorAdded !== undefined) {
    say(`       2026-07-28 tools/call added p50 through the floor (floor_modern_call_c1): ${fmt(modernFloorAdded)}ms`);
    say(
      `       the gateway's own work over it, 2026-07-28 tools/call (modern_call_c1): ${fmt(overFloor("modern_call_c1", modernFloorAdded))}ms`,
    );
  }
}
const meta = {
  at: new Date().toISOString(),
  cpus: cpus().length,
  cpu: cpus()[0]?.model,
  memGb: round(totalmem() / 2 ** 30, 1),
  loadavg_start: load0.map((x) => round(x)),
  loadavg_end: loadavg().map((x) => round(x)),
  node: process.version,
  postgres: db.embedded ? "embedded" : "DATABASE_URL",
  scale: SCALE,
  concurrency_high: C50,
  seconds: round((Date.now() - t0) / 1000, 1),
  ...(failed ? { failed: String((failed as Error)?.message ?? failed) } : {}),
};
say(
  `machine: ${meta.cpus} x ${meta.cpu}, ${meta.memGb} GB; load average at start ${meta.loadavg_start.join(" ")}, at end ${meta.loadavg_end.join(" ")}`,
);
mkdirSync(resolve(ROOT, "bench/results"), { recursive: true });
const file = resolve(ROOT, "bench/results", `bench-${meta.at.replace(/[:.]/g, "-")}.json`);
writeFileSync(file, JSON.stringify({ meta, results }, null, 2) + "\n");
say(`wrote ${file} (${meta.seconds} s)`);
if (failed) {
  console.error(`the benchmark stopped early: ${meta.failed}`);
  process.exitCode = 1;
}
