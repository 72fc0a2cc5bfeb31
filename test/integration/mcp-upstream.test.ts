// What the upstream receives: the server's stored headers, never the client's credentials or
// identity headers; messages as the client sent them (tool name aside); cancellations routed to it.
// A recording HTTP relay sits between the gateway and a real server-everything to observe this
// (it forwards every byte unchanged; nothing is mocked).
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolve } from "node:path";
import { CreateMessageRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { freePort } from "../../scripts/lib/ports";
import { startProcess, waitForPort, type Managed } from "../../scripts/lib/processes";
import { ROOT } from "../../scripts/lib/workers";
import { startBenchUpstream } from "../../bench/upstream";
import { startTinyUpstream, tool } from "./catalog.fixture";
import { gatewayClient, rawInitialize, rawPost, startMcpFixture, type McpFixture } from "./mcp.fixture";

interface Seen {
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let f: McpFixture;
let relay: Server;
let legacy: Managed | undefined;
const seen: Seen[] = [];

beforeAll(async () => {
  f = await startMcpFixture();
  const target = new URL(f.alpha.url);
  const port = await freePort();
  relay = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, headers: req.headers, body: body.toString() });
      const up = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: req.method,
          headers: { ...req.headers, host: target.host },
        },
        (r) => {
          res.writeHead(r.statusCode!, r.headers);
          r.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      res.on("close", () => up.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => relay.listen(port, "127.0.0.1", r));
  // server-everything on the legacy HTTP+SSE transport
  const legacyPort = await freePort();
  legacy = startProcess(
    "everything-sse",
    process.execPath,
    [resolve(ROOT, "node_modules/@modelcontextprotocol/server-everything/dist/index.js"), "sse"],
    { env: { PORT: String(legacyPort) } },
  );
  await waitForPort(legacyPort, legacy);
  await f.t.db
    .sql`INSERT INTO servers (id, tenant_id, url, transport) VALUES ('delta', 'acme', ${`http://127.0.0.1:${legacyPort}/sse`}, 'sse')`;
  // sealed, as the admin API stores headers (the mcp worker gets them opened from the catalog)
  const sealed = await f.t.sealedHeaders("gamma", {
    Authorization: "Bearer gamma-own-credential",
    "X-Upstream-Secret": "gamma-secret",
  });
  await f.t.db
    .sql`INSERT INTO servers (id, tenant_id, url, headers) VALUES ('gamma', 'acme', ${`http://127.0.0.1:${port}/mcp`}, ${f.t.db.sql.json(sealed)})`;
});
afterAll(async () => {
  relay?.close();
  await legacy?.stop();
  await f?.stop();
});

describe("the upstream side", () => {
  it("answers an Open WebUI-style turn's initialize and tools/list without contacting any upstream", async () => {
    const warm = await gatewayClient(f.t.url, "/mcp", f.alice);
    await warm.client.listTools(); // the catalog has its snapshots
    await warm.client.close();
    seen.length = 0;
    for (let turn = 0; turn < 3; turn++) {
      const { client, transport } = await gatewayClient(f.t.url, "/mcp", f.alice);
      const tools = (await client.listTools()).tools.map((t) => t.name);
      expect(tools).toContain("gamma__echo");
      await transport.terminateSession();
      await client.close();
    }
    expect(seen).toEqual([]);
  });

  it("injects the server's stored headers and never the client's credentials", async () => {
    const { client } = await gatewayClient(f.t.url, "/mcp", f.alice);
    seen.length = 0;
    const r = await client.callTool({ name: "gamma__echo", arguments: { message: "secret-free" } });
    expect(r.content).toEqual([{ type: "text", text: "Echo: secret-free" }]);
    const posts = seen.filter((s) => s.method === "POST");
    expect(posts.map((p) => JSON.parse(p.body).method)).toEqual([
      "initialize",
      "notifications/initialized",
      "tools/call",
    ]);
    for (const p of posts) {
      expect(p.headers.authorization).toBe("Bearer gamma-own-credential");
      expect(p.headers["x-upstream-secret"]).toBe("gamma-secret");
      const all = JSON.stringify(p.headers).toLowerCase();
      expect(all).not.toContain(f.alice.toLowerCase());
      expect(all).not.toContain("x-identity-assertion");
      expect(all).not.toContain("x-user-email");
      expect(all).not.toContain("cookie");
    }
    // the message reaches the upstream as sent, under the upstream's own tool name
    const call = JSON.parse(posts[2]!.body);
    expect(call.params).toEqual({ name: "echo", arguments: { message: "secret-free" } });
    await client.close();
  });

  it("forwards a client's cancellation to the upstream that runs the request", async () => {
    const { client } = await gatewayClient(f.t.url, "/mcp", f.alice);
    await client.callTool({ name: "gamma__echo", arguments: { message: "warm up" } });
    seen.length = 0;
    const ctl = new AbortController();
    const running = client.callTool(
      { name: "gamma__trigger-long-running-operation", arguments: { duration: 4, steps: 4 } },
      undefined,
      {
        signal: ctl.signal,
        onprogress: () => ctl.abort("changed my mind"),
      },
    );
    await expect(running).rejects.toThrow();
    await expect
      .poll(
        () => seen.map((s) => (s.body ? JSON.parse(s.body) : {})).find((m) => m.method === "notifications/cancelled"),
        { timeout: 5000 },
      )
      .toBeDefined();
    const msgs = seen.map((s) => (s.body ? JSON.parse(s.body) : {}));
    const call = msgs.find((m) => m.method === "tools/call");
    const cancel = msgs.find((m) => m.method === "notifications/cancelled");
    expect(cancel.params.requestId).toBe(call.id);
    await client.close();
  });

  it("forwards to a legacy HTTP+SSE upstream, server-to-client requests included", async () => {
    const { client } = await gatewayClient(f.t.url, "/mcp/delta", f.alice, { sampling: {} });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      role: "assistant",
      model: "legacy-model",
      content: { type: "text", text: "from the client" },
    }));
    expect((await client.listTools()).tools.map((t) => t.name)).toContain("echo");
    expect((await client.callTool({ name: "echo", arguments: { message: "old transport" } })).content).toEqual([
      { type: "text", text: "Echo: old transport" },
    ]);
    const progress: number[] = [];
    await client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(progress).toEqual([1, 2, 3]);
    const sampled = await client.callTool({
      name: "trigger-sampling-request",
      arguments: { prompt: "p", maxTokens: 5 },
    });
    expect(JSON.stringify(sampled.content)).toContain("legacy-model");
    await client.close();
  });
});

describe("how a forwarded answer reaches a client that takes JSON and SSE", () => {
  it("as JSON when the upstream answered JSON, as SSE when the upstream streams (or speaks the legacy transport)", async () => {
    // the tiny upstream answers JSON (enableJsonResponse); server-everything streams SSE
    const tiny = await startTinyUpstream([tool("noop")]);
    try {
      await f.t.db.sql`INSERT INTO servers (id, tenant_id, url) VALUES ('tiny', 'acme', ${tiny.url})`;
      const { session } = await rawInitialize(f.t.url, "/mcp", f.alice);
      // the catalog sees the new server once its version check runs (CATALOG_VERSION_TTL_MS)
      const listed = async () =>
        (
          await rawPost(
            f.t.url,
            "/mcp",
            f.alice,
            { jsonrpc: "2.0", id: 2, method: "tools/list" },
            { "mcp-session-id": session! },
          )
        ).body.result.tools.map((x: { name: string }) => x.name);
      await expect.poll(listed, { timeout: 10_000 }).toContain("tiny__noop");
      const call = (name: string, args: Record<string, unknown> = {}) =>
        rawPost(
          f.t.url,
          "/mcp",
          f.alice,
          { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name, arguments: args } },
          { "mcp-session-id": session! },
        );
      const json = await call("tiny__noop");
      expect(json.status).toBe(200);
      expect(json.headers.get("content-type")).toContain("application/json");
      // tiny has no tools/call handler: its own JSON-RPC error is the answer, passed on as is
      expect(json.body).toMatchObject({ jsonrpc: "2.0", id: 7, error: { code: -32601 } });
      for (const name of ["alpha__echo", "gamma__echo", "delta__echo"]) {
        const sse = await call(name, { message: "streamed" });
        expect(sse.headers.get("content-type"), name).toContain("text/event-stream");
        expect(sse.body, name).toMatchObject({
          id: 7,
          result: { content: [{ type: "text", text: "Echo: streamed" }] },
        });
      }
      // a gateway-made answer (nothing forwarded) to a client that takes both: JSON as well
      const unknown = await call("tiny__missing");
      expect(unknown.headers.get("content-type")).toContain("application/json");
      expect(unknown.body.error).toMatchObject({ code: -32602, message: "Unknown tool: tiny__missing" });
    } finally {
      await f.t.db.sql`DELETE FROM servers WHERE id = 'tiny'`;
      await tiny.stop();
    }
  });
});

describe("upstream sessions", () => {
  it("opens one upstream session for a user's turns, though each SDK client's GET stream and first call race for it: later turns adopt the one parked (the pool)", async () => {
    // the benchmark's upstream (official SDK, stateful sessions) counts the sessions it opened
    const up = await startBenchUpstream(1);
    try {
      await f.t.db.sql`INSERT INTO servers (id, tenant_id, url) VALUES ('counted', 'acme', ${up.url})`;
      const turn = async () => {
        // connect = initialize, notifications/initialized, then the GET stream, started without waiting
        const { client, transport } = await gatewayClient(f.t.url, "/mcp/counted", f.alice);
        const r = await client.callTool({ name: "tool_0", arguments: { text: "hi" } });
        expect(r.content).toEqual([{ type: "text", text: "hi" }]);
        await transport.terminateSession();
        await client.close();
      };
      await expect
        .poll(
          async () =>
            (
              await rawPost(
                f.t.url,
                "/mcp",
                f.alice,
                { jsonrpc: "2.0", id: 1, method: "tools/list" },
                { "mcp-session-id": (await rawInitialize(f.t.url, "/mcp", f.alice)).session! },
              )
            ).body.result.tools.map((x: { name: string }) => x.name),
          { timeout: 10_000 },
        )
        .toContain("counted__tool_0");
      // (the catalog's listing opened one already)
      const before = up.stats.opened;
      const open = up.stats.open;
      const turns = 12;
      for (let i = 0; i < turns; i++) await turn();
      // each client's DELETE parks its upstream session for the next turn (MCP_SESSION_POOL_SECONDS,
      // test/integration/mcp-session-pool.test.ts): one initialize upstream for all twelve turns
      expect(up.stats.opened - before).toBe(1);
      expect(up.stats.open - open).toBe(1);
      const parked = await f.t.db.sql`SELECT email FROM mcp_parked_sessions WHERE server_id = 'counted'`;
      expect(parked.map((r) => r.email)).toEqual(["alice@acme.test"]);
    } finally {
      await f.t.db.sql`DELETE FROM servers WHERE id = 'counted'`;
      await up.close();
    }
  });
});
