/**
 * `npm run bench:profile`: where the workers spend CPU on the hot path. Starts the stack (bundles
 * from `npm run build`/`npm run bench`; real Postgres: DATABASE_URL, else an embedded one) with
 * workerd's DevTools inspector open, drives one workload through the edge - tools/call in an open
 * session (PROFILE_WORKLOAD=call, default), a 2026-07-28 client's tools/call to a modern upstream
 * (=modern), a ping in an open session (=ping: the chain with nothing forwarded) or whole Open
 * WebUI turns (=turn) - for PROFILE_SECONDS
 * (default 8) at PROFILE_CONCURRENCY (default 8), with the V8 CPU profiler running in every
 * worker's isolate, and prints each worker's busiest functions by self time.
 * Needs Node's WebSocket: the npm script passes --experimental-websocket.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createSql } from "../shared/db";
import { createScratchDatabase, openDatabase, startEmbedded } from "../scripts/lib/database";
import { freePort } from "../scripts/lib/ports";
import { startStack } from "../scripts/lib/stack";
import { countInstructions } from "./callgrind";
import { startModern } from "../scripts/lib/upstreams";
import { ROOT } from "../scripts/lib/workers";
import { seedTenantUser } from "./seed";
import { startBenchUpstream } from "./upstream";

const SECONDS = Number(process.env.PROFILE_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.PROFILE_CONCURRENCY ?? 8);
const WORKLOAD = (["turn", "modern", "ping"] as const).find((w) => w === process.env.PROFILE_WORKLOAD) ?? "call";
/**
 * PROFILE_CALLGRIND=1: workerd runs under valgrind's callgrind (no V8 profiler) and the figure is
 * the instructions it executes per operation over PROFILE_OPS operations (default 300) after a
 * warm-up (bench/callgrind.ts). For comparing builds; bench/floor-profile.ts counts the floor's.
 */
const CALLGRIND = process.env.PROFILE_CALLGRIND === "1";
const OPS = Number(process.env.PROFILE_OPS ?? 300);
if (CALLGRIND) process.env.MCPGW_WORKERD_CALLGRIND = "1";
/** PROFILE_V8=0: no V8 profiler, so the workerd CPU per operation is the figure without its cost. */
const V8 = process.env.PROFILE_V8 !== "0" && !CALLGRIND;
const LABEL = { call: "tools/call", modern: "2026-07-28 tools/call", ping: "ping", turn: "Open WebUI turns" }[WORKLOAD];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** A DevTools protocol session over the inspector's WebSocket. */
async function devtools(url: string) {
  const ws = new WebSocket(url);
  await new Promise((ok, fail) => {
    ws.addEventListener("open", ok);
    ws.addEventListener("error", fail);
  });
  let next = 1;
  const waiting = new Map<number, (v: unknown) => void>();
  ws.addEventListener("message", (e: { data: unknown }) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown };
    if (m.id !== undefined) waiting.get(m.id)?.(m.result);
  });
  return {
    send: (method: string, params: Record<string, unknown> = {}) =>
      new Promise<any>((ok) => {
        const id = next++;
        waiting.set(id, ok);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** Self time per function (ms) from a V8 CPU profile. */
function selfTimes(profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const file = f.url.split("/").pop() || "(native)";
    const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    out.set(key, (out.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return out;
}

const inspectorPort = await freePort();
process.env.MCPGW_INSPECTOR = `127.0.0.1:${inspectorPort}`;
const pg = process.env.DATABASE_URL
  ? await openDatabase()
  : await startEmbedded(resolve(ROOT, ".data/bench/profile-pg"));
const scratch = await createScratchDatabase(pg.url, "mcpgw_profile");
const stack = await startStack({
  port: 0,
  demo: false,
  databaseUrl: scratch.url,
  dataDir: resolve(ROOT, ".data/bench"),
  localIdp: false,
  build: false,
  env: { RATE_LIMIT_PER_MINUTE: "100000000" },
});
// one upstream: the SDK 2.x server for the 2026-07-28 workload, the session-era bench upstream otherwise
const modern = WORKLOAD === "modern" ? await startModern("profile-modern", "modern") : null;
const upstream = modern ? null : await startBenchUpstream(1);
try {
  const sql = createSql(scratch.url, { max: 2 });
  const key = await seedTenantUser(sql, {
    tenant: "bench",
    name: "Bench",
    servers: [{ id: "bench", url: modern?.url ?? upstream!.url }],
    email: "bench@example.com",
  });
  await sql.end();

  const url = `${stack.url}/mcp`;
  const base = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    authorization: `Bearer ${key}`,
  };
  const failures = new Map<string, number>();
  const post = async (headers: Record<string, string>, body: unknown) => {
    const r = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
    const text = await r.text();
    if (r.status >= 400 || text.includes('"error"')) {
      const k = `${r.status} ${text.slice(0, 160)}`;
      failures.set(k, (failures.get(k) ?? 0) + 1);
    }
    return r;
  };
  // a 2026-07-28 client: no session, every request self-describing
  const MODERN = "2026-07-28";
  const modernHeaders = {
    ...base,
    "mcp-protocol-version": MODERN,
    "mcp-method": "tools/call",
    "mcp-name": "bench__test_simple_text",
  };
  const open = async () => {
    if (modern) return modernHeaders;
    const r = await post(base, {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "profile", version: "1" } },
    });
    const sid = r.headers.get("mcp-session-id");
    if (!sid) throw new Error(`initialize answered ${r.status}`);
    const h = { ...base, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    await post(h, { jsonrpc: "2.0", method: "notifications/initialized" });
    return h;
  };
  const call = (h: Record<string, string>) =>
    post(
      h,
      modern
        ? {
            jsonrpc: "2.0",
            id: 1,
            method: "tools/call",
            params: {
              name: "bench__test_simple_text",
              arguments: {},
              _meta: {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": { name: "profile", version: "1" },
              },
            },
          }
        : { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "bench__tool_0", arguments: { text: "x" } } },
    );
  const turn = async () => {
    const h = await open();
    await post(h, { jsonrpc: "2.0", id: 1, method: "tools/list" });
    await call(h);
    await (await fetch(url, { method: "DELETE", headers: h })).text();
  };
  const sessions = await Promise.all(Array.from({ length: CONCURRENCY }, open));
  for (const h of sessions) await call(h); // warm every cache

  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as {
    id: string;
    title?: string;
    webSocketDebuggerUrl: string;
  }[];
  const sessionsDt = await Promise.all(
    (V8 ? targets : []).map(async (t) => {
      const dt = await devtools(t.webSocketDebuggerUrl.replace("localhost", "127.0.0.1"));
      const heapBefore = (await dt.send("Runtime.getHeapUsage")).usedSize as number;
      await dt.send("Profiler.enable");
      await dt.send("Profiler.setSamplingInterval", { interval: 200 });
      await dt.send("Profiler.start");
      return { name: t.title || t.id, dt, heapBefore };
    }),
  );
  /** CPU seconds (user + system) the workerd process has used so far. */
  const cpu = () => {
    const f = readFileSync(`/proc/${stack.workerd.child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  };
  const once = (h: Record<string, string>) =>
    WORKLOAD === "turn" ? turn() : WORKLOAD === "ping" ? post(h, { jsonrpc: "2.0", id: 1, method: "ping" }) : call(h);
  /** Runs operations on every session until `more()` says stop; returns how many ran. */
  const drive = async (more: (n: number) => boolean) => {
    let n = 0;
    await Promise.all(
      sessions.map(async (h) => {
        while (more(n)) {
          n++;
          try {
            await once(h);
          } catch (err) {
            const k = String((err as Error).message).slice(0, 160);
            failures.set(k, (failures.get(k) ?? 0) + 1);
          }
        }
      }),
    );
    return n;
  };
  let done = 0;
  if (CALLGRIND) {
    const r = await countInstructions(drive, OPS);
    done = r.ops;
    console.log(`${LABEL}: ${done} operations at c=${CONCURRENCY} under callgrind`);
    console.log(
      `workerd instructions: ${(r.perOp / 1000).toFixed(0)}k per operation (all threads; the busiest ${(r.busiestPerOp / 1000).toFixed(0)}k)\n`,
    );
  } else {
    const cpuBefore = cpu();
    const until = Date.now() + SECONDS * 1000;
    done = await drive(() => Date.now() < until);
    const used = cpu() - cpuBefore;
    console.log(`${LABEL}: ${done} in ${SECONDS} s at c=${CONCURRENCY} (${(done / SECONDS).toFixed(1)}/s)`);
    console.log(
      `workerd CPU: ${used.toFixed(2)} s (${((used / done) * 1e6).toFixed(0)} µs per operation, all workers; profiler ${V8 ? "on" : "off"})\n`,
    );
  }
  for (const [k, n] of failures) console.log(`failed ${n}x: ${k}`);
  const problems = stack.workerd
    .output()
    .split("\n")
    .filter((l) => /error|exception|overloaded|uncaught/i.test(l));
  if (problems.length)
    console.log(
      `workerd reported ${problems.length} problem lines; first ones:\n  ${[...new Set(problems)].slice(0, 8).join("\n  ")}`,
    );
  console.log("");
  for (const { name, dt, heapBefore } of sessionsDt) {
    const { profile } = await dt.send("Profiler.stop");
    const heapAfter = (await dt.send("Runtime.getHeapUsage")).usedSize as number;
    const mb = (n: number) => (n / 1048576).toFixed(1);
    console.log(
      `== ${name}: V8 heap used ${mb(heapBefore)} MB before the run, ${mb(heapAfter)} MB after (no forced GC: workerd's inspector does not answer HeapProfiler.collectGarbage)`,
    );
    dt.close();
    const times = [...selfTimes(profile)].sort((a, b) => b[1] - a[1]);
    const total = times.reduce((s, [, v]) => s + v, 0);
    const busy = times
      .filter(([k]) => !k.startsWith("(idle)") && !k.startsWith("(program)"))
      .reduce((s, [, v]) => s + v, 0);
    console.log(
      `   ${busy.toFixed(0)} ms busy of ${total.toFixed(0)} ms sampled (${done ? ((busy / done) * 1000).toFixed(0) : "-"} µs per operation)`,
    );
    for (const [k, v] of times.filter(([k]) => !k.startsWith("(idle)")).slice(0, Number(process.env.PROFILE_TOP ?? 15)))
      console.log(`  ${v.toFixed(1).padStart(8)} ms  ${k}`);
    console.log("");
  }
} finally {
  await upstream?.close();
  await modern?.proc.stop();
  await stack.stop();
  await scratch.drop();
  await pg.stop();
}
