/**
 * `npm run bench`: the same MCP workloads run directly against an upstream and through the full
 * chain (edge -> forwardAuth -> mcp -> upstream), so each result is a ratio as well as a time.
 * Prints a table and writes JSON to bench/results/. Bounded: a few minutes on 2 cores, loopback only.
 *
 * BENCH_SCALE=0.2 shortens every workload (used by the test that keeps this script working).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createSql } from "../shared/db";
import { generateApiKey, insertApiKey } from "../shared/repos/apikeys.repo";
import { openDatabase } from "../scripts/lib/database";
import { startStack } from "../scripts/lib/stack";
import { ROOT } from "../scripts/lib/workers";
import { startBenchUpstream, type BenchUpstream } from "./upstream";

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const n = (x: number) => Math.max(3, Math.round(x * SCALE));

interface Stats {
  p50: number;
  p99: number;
  rps: number;
  count: number;
}

function stats(samples: number[], wallMs: number): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: round(q(0.5)), p99: round(q(0.99)), rps: round((s.length / wallMs) * 1000), count: s.length };
}
const round = (x: number) => Math.round(x * 100) / 100;

/** Runs `op` `total` times with `concurrency` workers; each worker gets its own context. */
async function measure<C>(total: number, concurrency: number, setup: () => Promise<C>, op: (ctx: C) => Promise<void>, teardown: (ctx: C) => Promise<void> = async () => {}): Promise<Stats> {
  const contexts = await Promise.all(Array.from({ length: concurrency }, setup));
  for (const ctx of contexts) await op(ctx); // warm-up
  const samples: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    contexts.map(async (ctx) => {
      while (next < total) {
        next++;
        const t = performance.now();
        await op(ctx);
        samples.push(performance.now() - t);
      }
    }),
  );
  const wall = performance.now() - t0;
  await Promise.all(contexts.map(teardown));
  return stats(samples, wall);
}

async function connect(url: string, key?: string): Promise<Client> {
  const client = new Client({ name: "bench", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: key ? { authorization: `Bearer ${key}` } : {} } });
  await client.connect(transport);
  return client;
}

async function owuiTurn(url: string, key?: string) {
  const client = await connect(url, key);
  await client.listTools();
  await client.callTool({ name: "tool_0", arguments: { text: "hi" } });
  await (client.transport as StreamableHTTPClientTransport).terminateSession();
  await client.close();
}

function peakRssMb(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/);
    return m ? round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

const results: Record<string, unknown> = {};
const rows: string[][] = [];
function record(name: string, direct: Stats | null, gateway: Stats) {
  results[name] = { direct, gateway };
  const ratio = direct ? round(gateway.p50 / direct.p50) : NaN;
  rows.push([name, direct ? `${direct.p50}` : "-", direct ? `${direct.p99}` : "-", direct ? `${direct.rps}` : "-", `${gateway.p50}`, `${gateway.p99}`, `${gateway.rps}`, direct ? `${ratio}x` : "-", direct ? `${round(gateway.p50 - direct.p50)}` : "-"]);
  console.log(`  ${name}: direct p50 ${direct?.p50 ?? "-"} ms, gateway p50 ${gateway.p50} ms`);
}

const t0 = Date.now();
const db = await openDatabase();
const admin = createSql(db.url.replace(/\/[^/]*$/, "/postgres"));
const dbName = `mcpgw_bench_${Date.now().toString(36)}`;
await admin.unsafe(`CREATE DATABASE ${dbName}`);
const dbUrl = db.url.replace(/\/[^/]*$/, `/${dbName}`);
const upstreams: BenchUpstream[] = [];
let stack: Awaited<ReturnType<typeof startStack>> | undefined;
try {
  console.log("starting the stack (bundling, workerd, Postgres)");
  stack = await startStack({ port: 0, demo: false, databaseUrl: dbUrl, dataDir: resolve(ROOT, ".data/bench"), log: () => {} });
  const sql = createSql(dbUrl, { max: 4 });
  const one = await startBenchUpstream(1);
  upstreams.push(one);
  await sql`INSERT INTO tenants (id, name) VALUES ('bench', 'Bench')`;
  await sql`INSERT INTO servers (id, tenant_id, url) VALUES ('bench', 'bench', ${one.url})`;
  await sql`INSERT INTO groups (name) VALUES ('bench-users')`;
  await sql`INSERT INTO group_tenant_mapping VALUES ('bench-users', 'bench')`;
  await sql`INSERT INTO users (email) VALUES ('bench@example.com')`;
  await sql`INSERT INTO user_group_membership VALUES ('bench@example.com', 'bench-users')`;
  const k = await generateApiKey();
  await insertApiKey(sql, "bench@example.com", "bench", k);
  const key = k.key;
  const gw = `${stack.url}/mcp/bench`;

  console.log("Open WebUI turn (new session, initialize, tools/list, tools/call, close), concurrency 1");
  record("owui_turn_c1", await measure(n(100), 1, async () => null, () => owuiTurn(one.url)), await measure(n(100), 1, async () => null, () => owuiTurn(gw, key)));

  console.log("tools/call in an open session, concurrency 1");
  const call = (c: Client) => c.callTool({ name: "tool_0", arguments: { text: "hi" } }).then(() => {});
  const close = (c: Client) => c.close();
  record("call_c1", await measure(n(500), 1, () => connect(one.url), call, close), await measure(n(500), 1, () => connect(gw, key), call, close));

  console.log("tools/call in open sessions, concurrency 50");
  record("call_c50", await measure(n(2000), 50, () => connect(one.url), call, close), await measure(n(2000), 50, () => connect(gw, key), call, close));

  console.log("Open WebUI turn, concurrency 50");
  record("owui_turn_c50", await measure(n(500), 50, async () => null, () => owuiTurn(one.url)), await measure(n(500), 50, async () => null, () => owuiTurn(gw, key)));

  console.log("tools/list of 1,000 tools across 20 servers through /mcp (warm)");
  await sql`INSERT INTO tenants (id, name) VALUES ('wide', 'Wide')`;
  for (let i = 0; i < 20; i++) {
    const u = await startBenchUpstream(50);
    upstreams.push(u);
    await sql`INSERT INTO servers (id, tenant_id, url) VALUES (${`wide-${i}`}, 'wide', ${u.url})`;
  }
  await sql`INSERT INTO group_tenant_mapping VALUES ('bench-users', 'wide')`;
  const listAll = async (c: Client) => {
    let cursor: string | undefined;
    let count = 0;
    do {
      const page = await c.listTools(cursor ? { cursor } : {});
      count += page.tools.length;
      cursor = page.nextCursor;
    } while (cursor);
    if (count < 1000) throw new Error(`listed only ${count} tools`);
  };
  const directList = async (clients: Client[]) => {
    for (const c of clients) await c.listTools();
  };
  const directClients = async () => Promise.all(upstreams.slice(1).map((u) => connect(u.url)));
  record(
    "list_1000_tools",
    await measure(n(50), 1, directClients, directList, async (cs) => void (await Promise.all(cs.map((c) => c.close())))),
    await measure(n(50), 1, () => connect(`${stack!.url}/mcp`, key), listAll, close),
  );
  await sql`DELETE FROM group_tenant_mapping WHERE tenant_id = 'wide'`;

  console.log("cost by number of users and tenants (Open WebUI turn for one user)");
  const scale: Record<string, Stats> = {};
  let users = 1;
  let tenants = 2;
  for (const [u, t] of [[10, 1], [1000, 1], [10000, 1], [10000, 100]] as const) {
    if (u > users) {
      await sql`INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(${users}, ${u - 1}) g ON CONFLICT DO NOTHING`;
      await sql`INSERT INTO user_group_membership SELECT 'user' || g || '@example.com', 'bench-users' FROM generate_series(${users}, ${u - 1}) g ON CONFLICT DO NOTHING`;
      users = u;
    }
    if (t > tenants - 1) {
      await sql`INSERT INTO tenants (id, name) SELECT 'extra-' || g, 'Extra ' || g FROM generate_series(${tenants}, ${t}) g ON CONFLICT DO NOTHING`;
      await sql`INSERT INTO groups (name) SELECT 'extra-' || g FROM generate_series(${tenants}, ${t}) g ON CONFLICT DO NOTHING`;
      await sql`INSERT INTO group_tenant_mapping SELECT 'extra-' || g, 'extra-' || g FROM generate_series(${tenants}, ${t}) g ON CONFLICT DO NOTHING`;
      tenants = t + 1;
    }
    const s = await measure(n(60), 1, async () => null, () => owuiTurn(gw, key));
    scale[`${u}_users_${t}_tenants`] = s;
    console.log(`  ${u} users, ${t} tenants: p50 ${s.p50} ms, p99 ${s.p99} ms`);
  }
  results.scale = scale;
  results.peak_rss_workerd_mb = peakRssMb(stack.workerd.child.pid);
  await sql.end();
} finally {
  await stack?.stop();
  for (const u of upstreams) await u.close();
  await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
  await admin.end();
  await db.stop();
}

const header = ["workload", "direct p50", "direct p99", "direct rps", "gateway p50", "gateway p99", "gateway rps", "p50 ratio", "added p50"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i]!)).join("  ");
console.log("\n" + line(header));
for (const r of rows) console.log(line(r));
console.log(`peak RSS of the workerd process: ${results.peak_rss_workerd_mb} MB`);
const meta = { at: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, memGb: round(totalmem() / 2 ** 30), node: process.version, scale: SCALE, seconds: round((Date.now() - t0) / 1000) };
mkdirSync(resolve(ROOT, "bench/results"), { recursive: true });
const file = resolve(ROOT, "bench/results", `bench-${meta.at.replace(/[:.]/g, "-")}.json`);
writeFileSync(file, JSON.stringify({ meta, results }, null, 2));
console.log(`wrote ${file} (${meta.seconds} s)`);
