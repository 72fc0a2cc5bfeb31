// The per-user pool of parked upstream sessions (workers/mcp/src/upstream/pool.ts): an Open
// WebUI-style turn (a new session: initialize, initialized, GET stream, tools/list, tools/call,
// DELETE) through the gateway adopts the upstream session the same user's previous turn parked, so
// the upstream sees no second initialize; another user, a stateful session, changed credentials,
// an expired or dead parked session and a pool turned off never reuse one.
// The upstream is a real SDK server (built here with @modelcontextprotocol/sdk, stateful
// sessions) that records each initialize, each request's session and each DELETE; the clients are
// the SDK's own. Nothing is mocked.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { startTestStack, type TestStack } from "../harness/stack";

interface Recorded {
  /** Upstream sessions initialized by the gateway for clients named `pool-test` (the catalog's own listing excluded). */
  initialized: string[];
  /** tools/call: the upstream session it ran in, and the Authorization header it came with. */
  calls: Array<{ usid: string; auth: string | undefined; text: string }>;
  /** Session ids the gateway DELETEd. */
  deleted: string[];
}

interface CountingUpstream {
  url: string;
  rec: Recorded;
  /** Forgets a session as a restarted upstream would (its id answers 404 from then on). */
  forget(usid: string): void;
  open(): string[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : undefined;
}

/** A stateful SDK server with a tool, logging and a subscribable resource. */
async function startCountingUpstream(): Promise<CountingUpstream> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const rec: Recorded = { initialized: [], calls: [], deleted: [] };
  const build = () => {
    const server = new McpServer(
      { name: "counting", version: "1.0.0" },
      { capabilities: { logging: {}, resources: { subscribe: true } } },
    );
    server.registerTool(
      "echo",
      { description: "echoes its text", inputSchema: { text: z.string() } },
      async ({ text }) => ({ content: [{ type: "text", text }] }),
    );
    server.registerResource("note", "note://one", { mimeType: "text/plain" }, async (uri) => ({
      contents: [{ uri: uri.href, text: "one" }],
    }));
    server.server.setRequestHandler(SubscribeRequestSchema, async () => ({}));
    server.server.setRequestHandler(UnsubscribeRequestSchema, async () => ({}));
    return server;
  };
  const http: Server = createServer(async (req, res) => {
    const sid = req.headers["mcp-session-id"];
    const body = req.method === "POST" ? await readBody(req) : undefined;
    const msg = body as { method?: string; params?: Record<string, any> } | undefined;
    let transport = typeof sid === "string" ? sessions.get(sid) : undefined;
    if (req.method === "DELETE" && typeof sid === "string") rec.deleted.push(sid);
    if (!transport) {
      if (req.method !== "POST" || sid) {
        res
          .writeHead(sid ? 404 : 400, { "content-type": "application/json" })
          .end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } }));
        return;
      }
      const named = msg?.method === "initialize" && msg.params?.clientInfo?.name === "pool-test";
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: true,
        onsessioninitialized: (id) => {
          sessions.set(id, transport!);
          if (named) rec.initialized.push(id);
        },
      });
      transport.onclose = () => {
        if (transport?.sessionId) sessions.delete(transport.sessionId);
      };
      await build().connect(transport);
    }
    if (msg?.method === "tools/call" && typeof sid === "string")
      rec.calls.push({ usid: sid, auth: req.headers.authorization, text: String(msg.params?.arguments?.text) });
    await transport.handleRequest(req, res, body);
  });
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const { port } = http.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    rec,
    forget(usid) {
      const t = sessions.get(usid);
      sessions.delete(usid);
      void t?.close();
    },
    open: () => [...sessions.keys()],
    close: () => new Promise((r) => (http.closeAllConnections(), http.close(() => r()))),
  };
}

let t: TestStack;
let up: CountingUpstream;
let alice: string;
let bob: string;

/** A gateway client as Open WebUI opens one per chat turn (SDK 1.x, session era, no capabilities). */
async function connect(
  key: string,
  name = "pool-test",
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name, version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${t.url}/mcp/counted`), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  return { client, transport };
}

/**
 * One Open WebUI-style turn; `extra` runs inside it (a stateful request). Returns the upstream
 * session its tools/call ran in.
 */
async function turn(key: string, text: string, extra?: (c: Client) => Promise<unknown>): Promise<string> {
  const { client, transport } = await connect(key);
  // the turn's GET stream included: an adopted session's previous stream must not refuse it (409)
  const errors: string[] = [];
  client.onerror = (e) => errors.push(String(e?.message ?? e));
  try {
    expect((await client.listTools()).tools.map((x) => x.name)).toContain("echo");
    if (extra) await extra(client);
    const r = await client.callTool({ name: "echo", arguments: { text } });
    expect(r.content).toEqual([{ type: "text", text }]);
    await transport.terminateSession();
  } finally {
    await client.close();
  }
  expect(
    errors.filter((e) => !/abort/i.test(e)),
    `client errors in turn ${text}`,
  ).toEqual([]);
  const call = up.rec.calls.find((c) => c.text === text);
  expect(call, `the upstream ran the call ${text}`).toBeDefined();
  return call!.usid;
}

const parked = async () =>
  (await t.db
    .sql`SELECT email, upstream_session_id AS usid FROM mcp_parked_sessions ORDER BY parked_at`) as unknown as Array<{
    email: string;
    usid: string;
  }>;

beforeAll(async () => {
  up = await startCountingUpstream();
  t = await startTestStack({ env: { MCP_SESSION_POOL_SECONDS: "300" } });
  const sql = t.db.sql;
  await sql`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')`;
  const sealed = await t.sealedHeaders("counted", { Authorization: "Bearer first-credential" });
  await sql`INSERT INTO servers (id, tenant_id, url, headers) VALUES ('counted', 'acme', ${up.url}, ${sql.json(sealed)})`;
  await sql`INSERT INTO groups (name) VALUES ('acme-users')`;
  await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('acme-users', 'acme')`;
  alice = await t.userKey("alice@acme.test", { groups: ["acme-users"] });
  bob = await t.userKey("bob@acme.test", { groups: ["acme-users"] });
  // the catalog lists the server before the first turn
  for (let i = 0; ; i++) {
    // (another client name: the upstream sessions of these do not count)
    const { client } = await connect(alice, "warm-up");
    const names = (await client.listTools()).tools.map((x) => x.name);
    await client.close();
    if (names.includes("echo")) break;
    if (i > 50) throw new Error("the catalog never listed the counted server");
    await new Promise((r) => setTimeout(r, 300));
  }
});
afterAll(async () => {
  await t?.stop();
  await up?.close();
});
beforeEach(async () => {
  // each test starts with an empty pool
  await t.db.sql`DELETE FROM mcp_parked_sessions`;
});

describe("the per-user session pool", () => {
  it("a user's next turn adopts the upstream session the previous turn parked: no second initialize, no DELETE upstream", async () => {
    const before = up.rec.initialized.length;
    const first = await turn(alice, "a1");
    expect(up.rec.initialized.length - before).toBe(1);
    expect(await parked()).toEqual([{ email: "alice@acme.test", usid: first }]);
    expect(up.rec.deleted).not.toContain(first);
    for (const text of ["a2", "a3", "a4"]) expect(await turn(alice, text)).toBe(first);
    // the upstream saw one initialize for four turns, and the session is still open there
    expect(up.rec.initialized.length - before).toBe(1);
    expect(up.rec.deleted).not.toContain(first);
    expect(up.open()).toContain(first);
  });

  it("adopts the parked session as the next session initializes (before its first request), and parks it again at its end", async () => {
    const usid = await turn(alice, "ahead-1");
    const post = (body: unknown, session?: string) =>
      fetch(`${t.url}/mcp/counted`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${alice}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...(session ? { "mcp-session-id": session } : {}),
        },
        body: JSON.stringify(body),
      });
    const init = await post({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "pool-test", version: "1.0.0" } },
    });
    expect(init.status).toBe(200);
    const session = init.headers.get("mcp-session-id")!;
    await init.text();
    // nothing else sent: the session's row holds the parked upstream session
    await expect
      .poll(
        async () => (await t.db.sql`SELECT 1 FROM mcp_upstream_sessions WHERE upstream_session_id = ${usid}`).length,
        { timeout: 5000 },
      )
      .toBe(1);
    expect(await parked()).toEqual([]);
    const del = await fetch(`${t.url}/mcp/counted`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${alice}`, "mcp-session-id": session },
    });
    expect(del.status).toBe(204);
    expect(await parked()).toEqual([{ email: "alice@acme.test", usid }]);
    expect(up.rec.deleted).not.toContain(usid);
  });

  it("another user never gets a session someone else parked", async () => {
    const a = await turn(alice, "iso-a1");
    const b = await turn(bob, "iso-b1");
    expect(b).not.toBe(a);
    // each user's next turn takes their own
    expect(await turn(bob, "iso-b2")).toBe(b);
    expect(await turn(alice, "iso-a2")).toBe(a);
    const rows = await parked();
    expect(rows.find((r) => r.usid === a)?.email).toBe("alice@acme.test");
    expect(rows.find((r) => r.usid === b)?.email).toBe("bob@acme.test");
  });

  it("two sessions of one user open at once never adopt the same parked session", async () => {
    await turn(alice, "conc-0");
    const [x, y] = await Promise.all([connect(alice), connect(alice)]);
    await Promise.all([
      x.client.callTool({ name: "echo", arguments: { text: "conc-x" } }),
      y.client.callTool({ name: "echo", arguments: { text: "conc-y" } }),
    ]);
    const usx = up.rec.calls.find((c) => c.text === "conc-x")!.usid;
    const usy = up.rec.calls.find((c) => c.text === "conc-y")!.usid;
    expect(usx).not.toBe(usy);
    for (const c of [x, y]) {
      await c.transport.terminateSession();
      await c.client.close();
    }
    // both are parked now (POOL_KEEP is 2)
    expect((await parked()).map((r) => r.usid).sort()).toEqual([usx, usy].sort());
  });

  it("a session through which a stateful request went (logging/setLevel, resources/subscribe) is ended upstream, never parked", async () => {
    for (const [name, extra] of [
      ["level", (c: Client) => c.setLoggingLevel("debug")],
      ["subscribe", (c: Client) => c.subscribeResource({ uri: "note://one" })],
    ] as const) {
      await t.db.sql`DELETE FROM mcp_parked_sessions`;
      const used = await turn(alice, `stateful-${name}`, extra);
      expect(await parked(), name).toEqual([]);
      await expect.poll(() => up.rec.deleted.includes(used), { timeout: 5000 }).toBe(true);
      const next = await turn(alice, `stateful-${name}-next`);
      expect(next, name).not.toBe(used);
    }
  });

  it("a session opened with credentials that changed since is not adopted", async () => {
    const old = await turn(alice, "cred-1");
    expect(up.rec.calls.find((c) => c.text === "cred-1")!.auth).toBe("Bearer first-credential");
    const sealed = await t.sealedHeaders("counted", { Authorization: "Bearer second-credential" });
    await t.db.sql`UPDATE servers SET headers = ${t.db.sql.json(sealed)}, updated_at = now() WHERE id = 'counted'`;
    // the catalog takes the change in within its version check (CATALOG_VERSION_TTL_MS)
    await expect
      .poll(
        async () => {
          await turn(alice, `cred-${randomUUID()}`);
          return up.rec.calls.at(-1)!.auth;
        },
        { timeout: 10_000 },
      )
      .toBe("Bearer second-credential");
    const fresh = up.rec.calls.at(-1)!.usid;
    expect(fresh).not.toBe(old);
    // the session opened with the old credentials never carried a request with the new ones, and was ended upstream
    expect(up.rec.calls.filter((c) => c.usid === old && c.auth !== "Bearer first-credential")).toEqual([]);
    await expect.poll(() => up.rec.deleted.includes(old), { timeout: 5000 }).toBe(true);
    // and the next turn reuses the one opened with the new credentials
    expect(await turn(alice, "cred-after")).toBe(fresh);
    expect(up.rec.calls.at(-1)!.auth).toBe("Bearer second-credential");
  });

  it("a parked session older than MCP_SESSION_POOL_SECONDS is not adopted, and is ended upstream", async () => {
    const old = await turn(alice, "exp-1");
    await t.db.sql`UPDATE mcp_parked_sessions SET parked_at = now() - interval '301 seconds'`;
    const next = await turn(alice, "exp-2");
    expect(next).not.toBe(old);
    await expect.poll(() => up.rec.deleted.includes(old), { timeout: 5000 }).toBe(true);
    expect((await parked()).map((r) => r.usid)).toEqual([next]);
  });

  it("a parked session the upstream forgot is replaced by a new one transparently", async () => {
    const dead = await turn(alice, "dead-1");
    up.forget(dead);
    const before = up.rec.initialized.length;
    const next = await turn(alice, "dead-2");
    expect(next).not.toBe(dead);
    expect(up.rec.initialized.length - before).toBe(1);
    expect(await turn(alice, "dead-3")).toBe(next);
  });

  it("with MCP_SESSION_POOL_SECONDS=0 every turn opens its own upstream session and ends it", async () => {
    t.workerEnv.MCP_SESSION_POOL_SECONDS = "0";
    await t.restartWorkerd();
    try {
      const before = up.rec.initialized.length;
      const a = await turn(alice, "off-1");
      const b = await turn(alice, "off-2");
      expect(b).not.toBe(a);
      expect(up.rec.initialized.length - before).toBe(2);
      expect(await parked()).toEqual([]);
      await expect.poll(() => [a, b].every((s) => up.rec.deleted.includes(s)), { timeout: 5000 }).toBe(true);
    } finally {
      t.workerEnv.MCP_SESSION_POOL_SECONDS = "300";
    }
  });
});
