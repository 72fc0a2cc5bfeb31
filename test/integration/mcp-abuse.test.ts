// What one hostile or runaway client cannot do to the gateway (issue 13): stop the audit log with a
// name Postgres cannot store, run more upstream calls than its rate limit by batching them, hold
// more upstream calls at once than its share, or make the gateway carry a server's secrets to
// wherever an upstream redirects. Real workerd, Postgres and server-everything upstreams; the
// redirecting upstream is a plain HTTP server, since redirecting is all it has to do.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/ports";
import { startProcess, waitForPort, type Managed } from "../../scripts/lib/processes";
import { ROOT } from "../../scripts/lib/workers";
import { rawInitialize, rawPost, startMcpFixture, type McpFixture } from "./mcp.fixture";

let f: McpFixture;
let target: Server;
let legacy: Managed;
const proxies: Server[] = [];
const reachedTarget: IncomingHttpHeaders[] = [];
/** While false the proxies pass everything to their upstream (the catalog lists it); then they redirect. */
let redirecting = false;

/** A reverse proxy to `upstream` that, once `redirecting`, answers every request with a redirect to the target. */
async function proxy(upstream: string, targetPort: number): Promise<string> {
  const port = await freePort();
  const up = new URL(upstream);
  const server = createServer((req, res) => {
    if (redirecting) {
      req.resume();
      res.writeHead(req.method === "GET" ? 302 : 307, { location: `http://127.0.0.1:${targetPort}${req.url}` }).end();
      return;
    }
    const out = httpRequest(
      {
        host: up.hostname,
        port: up.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: up.host },
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    out.on("error", () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  proxies.push(server);
  return `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  f = await startMcpFixture({
    RATE_LIMIT_PER_MINUTE: "60",
    MAX_BATCH_MESSAGES: "20",
    MAX_CONCURRENT_CALLS_PER_USER: "2",
  });
  const targetPort = await freePort();
  target = createServer((req, res) => {
    reachedTarget.push(req.headers);
    res.writeHead(500).end();
  });
  await new Promise<void>((r) => target.listen(targetPort, "127.0.0.1", r));
  const legacyPort = await freePort();
  legacy = startProcess(
    "everything-sse",
    process.execPath,
    [resolve(ROOT, "node_modules/@modelcontextprotocol/server-everything/dist/index.js"), "sse"],
    { env: { PORT: String(legacyPort) } },
  );
  await waitForPort(legacyPort, legacy);
  const viaHttp = await proxy(f.alpha.url, targetPort);
  const viaSse = await proxy(`http://127.0.0.1:${legacyPort}`, targetPort);
  const secret = f.t.db.sql.json({ Authorization: "Bearer redirected-secret" });
  await f.t.db
    .sql`INSERT INTO servers (id, tenant_id, url, headers) VALUES ('bounce', 'acme', ${`${viaHttp}/mcp`}, ${secret})`;
  await f.t.db
    .sql`INSERT INTO servers (id, tenant_id, url, transport, headers) VALUES ('bounce-sse', 'acme', ${`${viaSse}/sse`}, 'sse', ${secret})`;
});
afterAll(async () => {
  for (const p of proxies) p.close();
  target?.close();
  await legacy?.stop();
  await f?.stop();
});

async function toolCalls(actor: string): Promise<number> {
  const [row] = await f.t.db
    .sql`SELECT count(*)::int AS n FROM audit_log WHERE kind = 'tool_call' AND actor = ${actor}`;
  return row!.n as number;
}

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("the audit log under hostile names", () => {
  it("records every call, hostile or not, and keeps recording after them", async () => {
    const { session } = await rawInitialize(f.t.url, "/mcp", f.alice, "2025-11-25");
    const h = { "mcp-session-id": session! };
    const before = await toolCalls("alice@acme.test");
    const names = [
      "alpha__echo",
      "alpha__\u0000echo",
      "\u0000",
      "alpha__echo\u0000",
      "x".repeat(5000),
      "alpha__e\u0007cho",
      "alpha__echo\u009f",
      "alpha__echo",
    ];
    for (const [i, name] of names.entries()) {
      const r = await rawPost(
        f.t.url,
        "/mcp",
        f.alice,
        { jsonrpc: "2.0", id: i + 1, method: "tools/call", params: { name, arguments: { message: "m" } } },
        h,
      );
      expect(r.status, JSON.stringify(name.slice(0, 20))).toBe(200);
      if (/[\u0000-\u001f\u007f-\u009f]/.test(name))
        expect(r.body.error).toMatchObject({ code: -32602, message: expect.stringContaining("control characters") });
    }
    await until(async () => (await toolCalls("alice@acme.test")) - before === names.length);
    // and calls after the hostile ones are still audited
    await rawPost(
      f.t.url,
      "/mcp",
      f.alice,
      {
        jsonrpc: "2.0",
        id: 99,
        method: "tools/call",
        params: { name: "alpha__echo", arguments: { message: "after" } },
      },
      h,
    );
    await until(async () => (await toolCalls("alice@acme.test")) - before === names.length + 1);
    const stored = await f.t.db
      .sql`SELECT tool FROM audit_log WHERE kind = 'tool_call' AND actor = 'alice@acme.test' ORDER BY id DESC LIMIT ${names.length + 1}`;
    expect(stored.every((r) => !/\u0000/.test(String(r.tool)))).toBe(true);
  });
});

describe("batches", () => {
  it("count every message against the rate limit, and are refused whole past it", async () => {
    const key = await f.t.userKey("batcher@acme.test", { groups: ["acme-users"] });
    const { session } = await rawInitialize(f.t.url, "/mcp", key, "2025-03-26");
    const h = { "mcp-session-id": session!, accept: "application/json" };
    const batch = (n: number, from = 0) =>
      Array.from({ length: n }, (_, i) => ({
        jsonrpc: "2.0",
        id: from + i,
        method: "tools/call",
        params: { name: "alpha__echo", arguments: { message: `b${from + i}` } },
      }));
    const before = await toolCalls("batcher@acme.test");
    // 2 requests so far (initialize + this one's own count); 20 messages fit the budget of 60
    const ok = await rawPost(f.t.url, "/mcp", key, batch(20), h);
    expect(ok.status).toBe(200);
    expect(ok.body).toHaveLength(20);
    const ok2 = await rawPost(f.t.url, "/mcp", key, batch(20, 100), h);
    expect(ok2.status).toBe(200);
    // 1 + 20 + 20 = 41 counted: a third batch of 20 would pass 60, so none of it runs
    const refused = await rawPost(f.t.url, "/mcp", key, batch(20, 200), h);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(refused.body.error.message).toMatch(/batch of 20 messages exceeds the rate limit of 60/);
    await new Promise((r) => setTimeout(r, 500));
    expect((await toolCalls("batcher@acme.test")) - before).toBe(40);
  });

  it("hold at most MAX_BATCH_MESSAGES messages", async () => {
    const { session } = await rawInitialize(f.t.url, "/mcp", f.alice, "2025-03-26");
    const big = Array.from({ length: 21 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "ping" }));
    const r = await rawPost(f.t.url, "/mcp", f.alice, big, { "mcp-session-id": session! });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/at most 20 messages \(MAX_BATCH_MESSAGES\)/);
  });
});

describe("one user's calls in flight", () => {
  it("are bounded per user (MAX_CONCURRENT_CALLS_PER_USER); other users are not affected", async () => {
    const key = await f.t.userKey("busy@acme.test", { groups: ["acme-users"] });
    const other = await f.t.userKey("calm@acme.test", { groups: ["acme-users"] });
    const slow = (k: string, id: number) =>
      rawPost(
        f.t.url,
        "/mcp/alpha",
        k,
        {
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: {
            name: "trigger-long-running-operation",
            arguments: { duration: 2, steps: 2 },
            _meta: {
              "io.modelcontextprotocol/protocolVersion": "2026-07-28",
              "io.modelcontextprotocol/clientCapabilities": {},
            },
          },
        },
        {
          "mcp-protocol-version": "2026-07-28",
          "mcp-method": "tools/call",
          "mcp-name": "trigger-long-running-operation",
        },
      );
    const busy = [slow(key, 1), slow(key, 2)];
    await new Promise((r) => setTimeout(r, 400));
    const third = await slow(key, 3);
    expect(third.body.error?.message).toMatch(/Too many concurrent upstream calls: at most 2 per user/);
    const calm = await slow(other, 4);
    expect(calm.body.result?.content?.[0]?.text).toMatch(/completed/i);
    for (const r of await Promise.all(busy)) expect(r.body.result?.content?.[0]?.text).toMatch(/completed/i);
  });
});

describe("redirects", () => {
  it("are never followed with a server's stored secrets, on either transport", async () => {
    // listed while the proxies pass through (the catalog lists each server on first use)
    for (const server of ["bounce", "bounce-sse"]) {
      const one = (await rawInitialize(f.t.url, `/mcp/${server}`, f.alice, "2025-11-25")).session!;
      const listed = await rawPost(
        f.t.url,
        `/mcp/${server}`,
        f.alice,
        { jsonrpc: "2.0", id: 1, method: "tools/list" },
        { "mcp-session-id": one },
      );
      expect(
        listed.body.result.tools.map((t: { name: string }) => t.name),
        server,
      ).toContain("echo");
    }
    redirecting = true;
    for (const server of ["bounce", "bounce-sse"]) {
      const one = (await rawInitialize(f.t.url, `/mcp/${server}`, f.alice, "2025-11-25")).session!;
      const call = await rawPost(
        f.t.url,
        `/mcp/${server}`,
        f.alice,
        { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "echo", arguments: { message: "m" } } },
        { "mcp-session-id": one },
      );
      expect(call.body.error?.message, server).toMatch(/redirect|HTTP 30[27]/);
    }
    expect(reachedTarget).toEqual([]);
  });
});
