/**
 * Faults on the real stack: an upstream that is down, too slow, answering garbage or cutting its
 * stream; Postgres unreachable; workerd restarted in the middle of a client's session.
 *
 * The misbehaving upstream is a real server-everything behind a small HTTP proxy in this file
 * that can be switched into each failure mode (no real MCP server misbehaves on demand). The
 * unreachable Postgres is a TCP proxy in front of the real one that the test stops and restarts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer as createHttpServer, request as httpRequest, type Server } from "node:http";
import type { Socket } from "node:net";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { freePort } from "../../scripts/lib/ports";
import { postgresProxy } from "../harness/tcp-proxy";
import { startTestStack, type TestStack } from "../harness/stack";
import { gatewayClient } from "./mcp.fixture";

type Mode = "pass" | "slow" | "garbage" | "cut" | "huge-json" | "huge-sse";
/** MAX_UPSTREAM_MESSAGE_BYTES of the test stack; the "huge" modes answer tools/call with twice that. */
const MAX_MESSAGE = 256 * 1024;
// UPSTREAM_TIMEOUT_MS bounds both the mcp worker's forwarding and the catalog's listing; it must
// stay long enough for a listing on a loaded machine, and "slow" waits three times as long
const TIMEOUT_MS = 3000;

/** An HTTP proxy in front of `target` whose failure mode the test sets; `down()` stops listening. */
async function faultProxy(target: string) {
  const t = new URL(target);
  const port = await freePort();
  let mode: Mode = "pass";
  const sockets = new Set<Socket>();
  const forward = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
    const up = httpRequest(
      { host: t.hostname, port: t.port, path: req.url, method: req.method, headers: { ...req.headers, host: t.host } },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  };
  const handler = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
    if (mode === "pass") return forward(req, res);
    if (mode === "slow") return void setTimeout(() => forward(req, res), TIMEOUT_MS * 3);
    if (mode === "huge-json" || mode === "huge-sse") {
      // a tools/call answered with a message past the limit (as JSON or as one SSE event); the rest passes
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        if (!body.includes('"tools/call"')) {
          const up = httpRequest(
            {
              host: t.hostname,
              port: t.port,
              path: req.url,
              method: req.method,
              headers: { ...req.headers, host: t.host },
            },
            (ur) => {
              res.writeHead(ur.statusCode ?? 502, ur.headers);
              ur.pipe(res);
            },
          );
          up.on("error", () => res.destroy());
          return void up.end(body);
        }
        const big = JSON.stringify({
          jsonrpc: "2.0",
          id: JSON.parse(body.toString()).id,
          result: { content: [{ type: "text", text: "x".repeat(MAX_MESSAGE * 2) }] },
        });
        if (mode === "huge-json") {
          res.writeHead(200, { "content-type": "application/json" });
          return void res.end(big);
        }
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.end(`event: message\ndata: ${big}\n\n`);
      });
      return;
    }
    req.resume();
    if (mode === "garbage") {
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end("<html>502 from a confused upstream</html>{{{");
    }
    // cut: a stream that starts an answer and dies in the middle of it
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write('event: message\ndata: {"jsonrpc":"2.0","id":');
    setTimeout(() => res.socket?.destroy(), 50);
  };
  let server: Server | null = null;
  const up = () =>
    new Promise<void>((resolve) => {
      server = createHttpServer(handler);
      server.on("connection", (s) => (sockets.add(s), s.on("close", () => sockets.delete(s))));
      server.listen(port, "127.0.0.1", () => resolve());
    });
  await up();
  return {
    url: `http://127.0.0.1:${port}${t.pathname}`,
    set(m: Mode) {
      mode = m;
    },
    async down() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      server = null;
    },
    up,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    },
  };
}

let t: TestStack;
let good: Upstream;
let backend: Upstream;
let flaky: Awaited<ReturnType<typeof faultProxy>>;
let alice: string;

beforeAll(async () => {
  [good, backend] = await Promise.all([startEverything("good"), startEverything("flaky-backend")]);
  flaky = await faultProxy(backend.url);
  // STALE_IDENTITY_MAX_SECONDS: how long the auth worker may use a cached identity while Postgres is away
  t = await startTestStack({
    env: {
      UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
      RATE_LIMIT_PER_MINUTE: "100000",
      STALE_IDENTITY_MAX_SECONDS: "5",
      STALE_CATALOG_MAX_SECONDS: "5",
      MAX_UPSTREAM_MESSAGE_BYTES: String(MAX_MESSAGE),
    },
  });
  const sql = t.db.sql;
  await sql`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')`;
  await sql`INSERT INTO servers (id, tenant_id, url, headers) VALUES ('good', 'acme', ${good.url}, ${sql.json({})}), ('flaky', 'acme', ${flaky.url}, ${sql.json({})})`;
  await sql`INSERT INTO groups (name) VALUES ('acme-users')`;
  await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('acme-users', 'acme')`;
  alice = await t.userKey("alice@acme.test", { groups: ["acme-users"] });
});
afterAll(async () => {
  await t?.stop();
  await flaky?.stop();
  await Promise.all([good?.proc.stop(), backend?.proc.stop()]);
});

/** Retries `fn` until it returns a value (not null), for at most `seconds` (default 15). */
async function poll<T>(fn: () => Promise<T | null>, seconds = 15): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`condition not reached within ${seconds} s`);
}

/** A call that must succeed, retried while the catalog (cold after a restart) re-lists. */
const eventually = (c: Client, server: string, message: string) =>
  poll(() => echo(c, server, message).catch(() => null), 40);

const echo = (c: Client, server: string, message: string) =>
  c.callTool({ name: `${server}__echo`, arguments: { message } });
const text = (r: unknown) => JSON.stringify((r as { content?: unknown }).content ?? r);

/** The flaky server's entry in the admin health view. */
async function flakyHealth(): Promise<unknown> {
  const res = await t.fetch("/admin/api/health", { key: t.adminKey });
  const body = (await res.json()) as { servers: { server: string }[] };
  return body.servers.find((x) => x.server === "flaky");
}

describe("a broken upstream", () => {
  let client: Client;
  beforeAll(async () => {
    client = (await gatewayClient(t.url, "/mcp", alice)).client;
    // the catalog lists both upstreams first (retried by the catalog if a listing timed out)
    const names = await poll(async () => {
      const n = (await client.listTools()).tools.map((x) => x.name);
      return n.includes("good__echo") && n.includes("flaky__echo") ? n : null;
    }, 40);
    expect(names).toContain("flaky__echo");
    expect(text(await echo(client, "flaky", "warm-up"))).toContain("warm-up");
  });
  afterAll(() => client?.close());

  for (const mode of ["down", "slow", "garbage", "cut"] as const) {
    it(
      `${mode}: the other server's tools stay listed and callable, the broken one fails clearly, then recovers`,
      { timeout: 120_000 },
      async () => {
        const mark = t.workerd.mark(); // this mode's log lines only: earlier modes logged the same server
        if (mode === "down") await flaky.down();
        else flaky.set(mode);
        try {
          const names = (await client.listTools()).tools.map((x) => x.name);
          expect(names).toContain("good__echo");
          expect(text(await eventually(client, "good", `during ${mode}`))).toContain(`during ${mode}`);
          const failed = await echo(client, "flaky", "x").then(
            (r) => `result: ${text(r)}`,
            (e: Error) => `error: ${e.message}`,
          );
          // the failure names the server and does not pretend to be a tool result
          expect(failed).toMatch(/^error: .*Upstream flaky failed/);
          // and the log says which server failed, at warn level (lines reach the log a moment later)
          const warned = () =>
            t.workerd
              .since(mark)
              .split("\n")
              .filter((l) => l.includes('"level":"warn"') && l.includes('"server":"flaky"'));
          await expect.poll(() => warned().length, { timeout: 5000 }).toBeGreaterThan(0);
          if (mode === "down") {
            // the failed call makes the catalog re-list it: the admin health view reports it
            const status = await poll(async () => {
              const flakyStatus = (await flakyHealth()) as { ok?: boolean; error?: string } | undefined;
              return flakyStatus && flakyStatus.ok === false ? flakyStatus : null;
            }, 20);
            expect(status.error).toBeTruthy();
          }
        } finally {
          if (mode === "down") await flaky.up();
          flaky.set("pass");
        }
        expect(text(await eventually(client, "flaky", `after ${mode}`))).toContain(`after ${mode}`);
        expect(text(await eventually(client, "good", `after ${mode}`))).toContain(`after ${mode}`);
        if (mode === "down") {
          // and back to healthy once the catalog's retry lists it again (the retry rides on use)
          await poll(async () => {
            await client.listTools();
            return ((await flakyHealth()) as { ok?: boolean } | undefined)?.ok === true ? true : null;
          }, 40);
        }
      },
    );
  }

  for (const mode of ["huge-json", "huge-sse"] as const) {
    it(
      `${mode}: an upstream message past MAX_UPSTREAM_MESSAGE_BYTES fails that call with an error naming the limit, unread`,
      { timeout: 60_000 },
      async () => {
        flaky.set(mode);
        try {
          const failed = await echo(client, "flaky", "x").then(
            (r) => `result: ${text(r).slice(0, 100)}`,
            (e: Error) => `error: ${e.message}`,
          );
          expect(failed).toMatch(
            new RegExp(
              `^error: .*Upstream flaky failed: upstream flaky sent a message larger than ${MAX_MESSAGE} bytes`,
            ),
          );
          expect(text(await eventually(client, "good", `during ${mode}`))).toContain(`during ${mode}`);
        } finally {
          flaky.set("pass");
        }
        expect(text(await eventually(client, "flaky", `after ${mode}`))).toContain(`after ${mode}`);
      },
    );
  }
});

describe("a workerd restart in the middle of a session", () => {
  it("lets the client go on with the same session", { timeout: 120_000 }, async () => {
    const { client, transport } = await gatewayClient(t.url, "/mcp", alice);
    expect(text(await eventually(client, "good", "before"))).toContain("before");
    const session = transport.sessionId;
    await t.restartWorkerd();
    expect(text(await eventually(client, "good", "after restart"))).toContain("after restart");
    expect(text(await eventually(client, "flaky", "after restart"))).toContain("after restart");
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    expect(transport.sessionId).toBe(session);
    await client.close();
  });
});

describe("Postgres unreachable", () => {
  it("loses no audit record of calls made while it is briefly away", { timeout: 120_000 }, async () => {
    const proxy = await postgresProxy(t.databaseUrl);
    const original = t.workerEnv.DATABASE_URL!;
    t.workerEnv.DATABASE_URL = proxy.via(t.databaseUrl);
    const okCalls = async () =>
      Number(
        (
          await t.db
            .sql`SELECT count(*)::int AS n FROM audit_log WHERE kind = 'tool_call' AND actor = 'alice@acme.test' AND outcome = 'ok' AND tool = 'echo'`
        )[0]!.n,
      );
    try {
      await t.restartWorkerd();
      const baseline = await okCalls();
      const { client } = await gatewayClient(t.url, "/mcp", alice);
      expect(text(await echo(client, "good", "warm"))).toContain("warm");
      await poll(async () => ((await okCalls()) === baseline + 1 ? true : null));
      const before = baseline + 1;
      await proxy.stop();
      // calls answered from cached identity and catalog while Postgres is away
      let succeeded = 0;
      for (let i = 0; i < 3; i++) {
        await echo(client, "good", `away ${i}`).then(
          () => succeeded++,
          () => {},
        );
      }
      expect(succeeded).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 1500));
      await proxy.start();
      // the queued records reach the database after it returns; the count matches the calls
      let seen = -1;
      await poll(async () => ((seen = await okCalls()) === before + succeeded ? true : null), 30).catch((err) => {
        throw new Error(
          `${err.message}: ${seen} ok records, expected ${before} + ${succeeded}; log: ${t.workerd
            .output()
            .split("\n")
            .filter((l) => l.includes("audit"))
            .slice(-5)
            .join(" | ")}`,
        );
      });
      await client.close();
    } finally {
      t.workerEnv.DATABASE_URL = original;
      await proxy.stop();
      await t.restartWorkerd();
    }
  });

  it(
    "turns /healthz to 503 JSON while it is away, MCP calls then fail closed with a clear error, all back when it returns",
    { timeout: 120_000 },
    async () => {
      const proxy = await postgresProxy(t.databaseUrl);
      const original = t.workerEnv.DATABASE_URL!;
      t.workerEnv.DATABASE_URL = proxy.via(t.databaseUrl);
      try {
        await t.restartWorkerd();
        expect((await t.fetch("/healthz")).status).toBe(200);
        const { client } = await gatewayClient(t.url, "/mcp", alice);
        expect(text(await eventually(client, "good", "db up"))).toContain("db up");
        await proxy.stop();
        const down = await t.fetch("/healthz");
        expect(down.status).toBe(503);
        expect(await down.json()).toMatchObject({ status: "unavailable" });
        // API calls fail with JSON (never a stack trace or an HTML page) while it is away
        const api = await t.fetch("/admin/api/whoami", { key: t.adminKey });
        expect(api.status).toBeGreaterThanOrEqual(400);
        expect(api.headers.get("content-type")).toContain("json");
        // an MCP session may go on briefly from cached identity and catalog, then fails closed
        // with a clear JSON-RPC error (never hangs, never a result made up)
        const failure = await poll(
          () =>
            echo(client, "good", "db down").then(
              () => null,
              (e: Error) => e.message,
            ),
          30,
        );
        expect(failure).toMatch(/database is unreachable|unavailable/i);
        await proxy.start();
        expect((await t.fetch("/healthz")).status).toBe(200);
        expect((await t.fetch("/admin/api/whoami", { key: t.adminKey })).status).toBe(200);
        expect(text(await eventually(client, "good", "db back"))).toContain("db back");
        await client.close();
        expect(t.workerd.child.exitCode).toBeNull();
      } finally {
        t.workerEnv.DATABASE_URL = original;
        await proxy.stop();
        await t.restartWorkerd();
      }
    },
  );
});
