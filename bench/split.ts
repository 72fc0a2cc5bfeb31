/**
 * `node --import tsx bench/split.ts`: where one MCP request's time goes, hop by hop (c=1, p50/p99
 * of raw HTTP requests, no SDK client in the way). Measures, in one open session:
 * - tools/call directly against the upstream;
 * - `ping` and `tools/list` through the gateway (answered by mcp from the catalog, no upstream);
 * - tools/call through the gateway, answered as SSE and as JSON;
 * - `ping` and tools/call on the mcp worker's own socket of a second workerd replica (same config,
 *   variables and database) with a signed identity assertion: no edge, no auth;
 * - the second replica's full chain, for a same-process comparison.
 * Uses its own embedded Postgres under .data/bench/split-pg unless DATABASE_URL is set;
 * reuses the bundled workers (run `npm run bench` or `npm start` once first). N requests per
 * figure: SPLIT_N (default 300).
 */
import { rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { createSql } from "../shared/db";
import { ASSERTION_HEADER } from "../shared/edge";
import { signAssertion } from "../shared/identity";
import { createScratchDatabase, openDatabase, startEmbedded } from "../scripts/lib/database";
import { freePort } from "../scripts/lib/ports";
import { startStack } from "../scripts/lib/stack";
import { startWorkerd } from "../scripts/lib/workerd";
import { localConfig, WORKERD_DIR } from "../scripts/lib/workerd-config";
import { allWorkers, ROOT } from "../scripts/lib/workers";
import { stats } from "./measure";
import { seedTenantUser } from "./seed";
import { startBenchUpstream } from "./upstream";

const N = Number(process.env.SPLIT_N ?? 300);
const pg = process.env.DATABASE_URL ? await openDatabase() : await startEmbedded(resolve(ROOT, ".data/bench/split-pg"));
const scratch = await createScratchDatabase(pg.url, "mcpgw_split");
const dbUrl = scratch.url;
const stack = await startStack({
  port: 0,
  demo: false,
  databaseUrl: dbUrl,
  dataDir: resolve(ROOT, ".data/bench"),
  localIdp: false,
  build: false,
  env: { RATE_LIMIT_PER_MINUTE: "100000000" },
});
const one = await startBenchUpstream(1);
const config = resolve(WORKERD_DIR, `local-split-${process.pid}.capnp`);
let second: Awaited<ReturnType<typeof startWorkerd>> | undefined;
try {
  const sql = createSql(dbUrl, { max: 2 });
  const key = await seedTenantUser(sql, {
    tenant: "bench",
    name: "Bench",
    servers: [{ id: "bench", url: one.url }],
    email: "bench@example.com",
  });
  await sql.end();

  /** Opens an MCP session with raw requests; returns the headers of the session's later requests. */
  const session = async (url: string, auth: Record<string, string>) => {
    const h = { "content-type": "application/json", accept: "application/json, text/event-stream", ...auth };
    const init = {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "split", version: "1" } },
    };
    const r = await fetch(url, { method: "POST", headers: h, body: JSON.stringify(init) });
    await r.text();
    const sid = r.headers.get("mcp-session-id");
    if (!sid) throw new Error(`${url}: no session (${r.status})`);
    const s = { ...h, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    await (
      await fetch(url, {
        method: "POST",
        headers: s,
        body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
      })
    ).text();
    return s;
  };
  const run = async (name: string, url: string, headers: Record<string, string>, body: unknown) => {
    const once = async () => {
      const r = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
      const text = await r.text();
      if (r.status !== 200) throw new Error(`${name}: ${r.status} ${text.slice(0, 200)}`);
    };
    for (let i = 0; i < 20; i++) await once();
    const samples: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      await once();
      samples.push(performance.now() - t);
    }
    const s = stats(samples, performance.now() - t0, 0);
    console.log(
      `${name.padEnd(52)} p50 ${String(s.p50).padStart(7)}  p99 ${String(s.p99).padStart(7)}  mean ${String(s.mean).padStart(7)}`,
    );
  };
  const call = { jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "tool_0", arguments: { text: "hi" } } };
  const ping = { jsonrpc: "2.0", id: 1, method: "ping" };

  const direct = await session(one.url, {});
  await run("direct: tools/call", one.url, direct, call);
  const gwUrl = `${stack.url}/mcp/bench`;
  const gw = await session(gwUrl, { authorization: `Bearer ${key}` });
  await run("gateway: ping (no upstream)", gwUrl, gw, ping);
  await run("gateway: tools/list (from the catalog)", gwUrl, gw, { jsonrpc: "2.0", id: 1, method: "tools/list" });
  await run("gateway: tools/call, client takes JSON and SSE", gwUrl, gw, call);
  await run("gateway: tools/call, Accept: application/json only", gwUrl, { ...gw, accept: "application/json" }, call);

  // an Open WebUI turn step by step, as the MCP SDK clients do it: initialize, initialized, the GET
  // stream (time to its headers; then dropped), tools/list, tools/call, DELETE
  const steps = [
    "initialize",
    "notifications/initialized",
    "GET stream (headers)",
    "tools/list",
    "tools/call",
    "DELETE",
  ];
  const turnSteps = async (url: string, auth: Record<string, string>) => {
    const times = steps.map(() => [] as number[]);
    const timed = async (i: number, f: () => Promise<Response>) => {
      const t = performance.now();
      const r = await f();
      times[i]!.push(performance.now() - t);
      return r;
    };
    const h = { "content-type": "application/json", accept: "application/json, text/event-stream", ...auth };
    const init = {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "split", version: "1" } },
    };
    for (let n = 0; n < Math.ceil(N / 3) + 10; n++) {
      const r = await timed(0, async () => {
        const r = await fetch(url, { method: "POST", headers: h, body: JSON.stringify(init) });
        await r.text();
        return r;
      });
      const sh = { ...h, "mcp-session-id": r.headers.get("mcp-session-id")!, "mcp-protocol-version": "2025-06-18" };
      const post = async (i: number, body: unknown) =>
        timed(i, async () => {
          const r = await fetch(url, { method: "POST", headers: sh, body: JSON.stringify(body) });
          await r.text();
          return r;
        });
      await post(1, { jsonrpc: "2.0", method: "notifications/initialized" });
      const ctl = new AbortController();
      const get = await timed(2, () =>
        fetch(url, { method: "GET", headers: { ...sh, accept: "text/event-stream" }, signal: ctl.signal }),
      );
      await post(3, { jsonrpc: "2.0", id: 1, method: "tools/list" });
      await post(4, call);
      ctl.abort();
      await get.body?.cancel().catch(() => {});
      await timed(5, async () => {
        const r = await fetch(url, { method: "DELETE", headers: sh });
        await r.text();
        return r;
      });
      if (n < 10) for (const t of times) t.length = 0; // warm-up
    }
    return times.map((t) => stats(t, 1, 0));
  };
  const turnDirect = await turnSteps(one.url, {});
  const turnGw = await turnSteps(gwUrl, { authorization: `Bearer ${key}` });
  console.log(`\nOpen WebUI turn step by step (p50 ms): direct / gateway /mcp/bench`);
  steps.forEach((name, i) =>
    console.log(
      `  ${name.padEnd(28)} ${String(turnDirect[i]!.p50).padStart(7)} / ${String(turnGw[i]!.p50).padStart(7)}`,
    ),
  );
  const sum = (a: { p50: number }[]) => a.reduce((x, y) => x + y.p50, 0).toFixed(2);
  console.log(`  ${"sum".padEnd(28)} ${sum(turnDirect).padStart(7)} / ${sum(turnGw).padStart(7)}\n`);

  writeFileSync(config, localConfig(allWorkers(), ["mcp"]));
  const [edgePort, mcpPort] = [await freePort(), await freePort()];
  second = await startWorkerd({ config, port: edgePort, env: stack.workerEnv, extraSockets: { mcp: mcpPort } });
  const assertion = await signAssertion(
    { email: "bench@example.com", groups: ["bench-users"], admin: false, via: "apikey" },
    stack.workerEnv.IDENTITY_SECRET!,
  );
  const { authorization: _, ...noAuth } = gw as Record<string, string>;
  const mcpHeaders = { ...noAuth, [ASSERTION_HEADER]: assertion };
  const mcpUrl = `http://127.0.0.1:${mcpPort}/mcp/bench`;
  await run("replica 2, mcp socket: ping (no edge, no auth)", mcpUrl, mcpHeaders, ping);
  await run("replica 2, mcp socket: tools/call SSE", mcpUrl, mcpHeaders, call);
  await run("replica 2, full chain: ping", `http://127.0.0.1:${edgePort}/mcp/bench`, gw, ping);
  await run("replica 2, full chain: tools/call SSE", `http://127.0.0.1:${edgePort}/mcp/bench`, gw, call);
  await run("direct: tools/call (again)", one.url, direct, call);
} finally {
  await second?.stop();
  rmSync(config, { force: true });
  await stack.stop();
  await one.close();
  await scratch.drop();
  await pg.stop();
}
