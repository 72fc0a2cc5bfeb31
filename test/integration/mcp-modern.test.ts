// 2026-07-28 clients on the gateway, in front of session-era upstreams (real server-everything):
// the SDK 2.x client in auto mode negotiates the modern era by itself; raw HTTP checks the
// header rules, error codes and result shapes the spec requires; the bridge turns the upstream's
// server-to-client requests into MRTR rounds the SDK client fulfils.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawInitialize, rawPost, startMcpFixture, type McpFixture } from "./mcp.fixture";

let f: McpFixture;
beforeAll(async () => {
  f = await startMcpFixture();
});
afterAll(async () => {
  await f?.stop();
});

const META = (caps: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": caps,
  "io.modelcontextprotocol/clientInfo": { name: "raw-modern", version: "1" },
  ...extra,
});

/** A header value as the spec has clients send it: plain when header-safe, else the Base64 sentinel of its UTF-8. */
function headerValue(v: string): string {
  if (/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(v) && !v.startsWith("=?base64?")) return v;
  return `=?base64?${Buffer.from(v, "utf8").toString("base64")}?=`;
}

/** A modern request over raw HTTP with the standard headers (overridable). */
function modern(
  path: string,
  key: string,
  method: string,
  params: Record<string, unknown> = {},
  headers: Record<string, string> = {},
  id: number | string = 1,
) {
  const name = typeof params.name === "string" ? params.name : typeof params.uri === "string" ? params.uri : undefined;
  return rawPost(
    f.t.url,
    path,
    key,
    { jsonrpc: "2.0", id, method, params: { ...params, _meta: (params._meta as Record<string, unknown>) ?? META() } },
    {
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": method,
      ...(name !== undefined ? { "mcp-name": headerValue(name) } : {}),
      ...headers,
    },
  );
}

async function sdkClient(path: string, key: string, caps: Record<string, unknown> = {}) {
  const client = new Client(
    { name: "sdk2-auto", version: "1.0.0" },
    { capabilities: caps, versionNegotiation: { mode: "auto" } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(f.t.url + path), {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

describe("a 2026-07-28 client (SDK 2.x, auto negotiation)", () => {
  it("negotiates the modern era by itself, no failed probe, and sees the upstream through /mcp/<server>", async () => {
    const client = await sdkClient("/mcp/alpha", f.alice);
    try {
      expect(client.getProtocolEra()).toBe("modern");
      expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28");
      expect(client.getServerVersion()?.name).toBe("mcp-servers/everything");
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("echo");
      const res = await client.callTool({ name: "echo", arguments: { message: "modern hello" } });
      expect(res.content).toEqual([{ type: "text", text: "Echo: modern hello" }]);
    } finally {
      await client.close();
    }
  });

  it("sees every granted server as <server>__<name> on /mcp, and nothing of another tenant", async () => {
    const client = await sdkClient("/mcp", f.alice);
    try {
      const { tools } = await client.listTools();
      expect(tools.length).toBeGreaterThan(5);
      expect(tools.every((t) => t.name.startsWith("alpha__"))).toBe(true);
      const res = await client.callTool({ name: "alpha__echo", arguments: { message: "via aggregate" } });
      expect(res.content).toEqual([{ type: "text", text: "Echo: via aggregate" }]);
      // bob's server is not there under any spelling
      for (const name of ["beta__echo", "echo", "BETA__echo", "beta__echo "]) {
        const r = await modern("/mcp", f.alice, "tools/call", { name, arguments: { message: "x" } });
        expect(r.body.error, name).toMatchObject({ code: -32602, message: `Unknown tool: ${name}` });
      }
    } finally {
      await client.close();
    }
  });
});

describe("2026-07-28 over raw HTTP", () => {
  it("answers server/discover with every revision, the endpoint's capabilities, server info and cache hints", async () => {
    const r = await modern("/mcp/alpha", f.alice, "server/discover");
    expect(r.status).toBe(200);
    expect(r.body.result).toMatchObject({
      resultType: "complete",
      supportedVersions: ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"],
      capabilities: { tools: expect.any(Object) },
      _meta: { "io.modelcontextprotocol/serverInfo": { name: "mcp-servers/everything" } },
      cacheScope: "private",
      ttlMs: expect.any(Number),
    });
    const agg = await modern("/mcp", f.alice, "server/discover");
    expect(agg.body.result._meta["io.modelcontextprotocol/serverInfo"].name).toBe("mcp-gateway");
    expect(agg.body.result.capabilities.tools).toEqual({ listChanged: true });
  });

  it("gives lists resultType, ttlMs and cacheScope private, in the same order every time (the session era's order)", async () => {
    const r = await modern("/mcp/alpha", f.alice, "tools/list");
    expect(r.body.result).toMatchObject({ resultType: "complete", cacheScope: "private", ttlMs: 30000 });
    const names = r.body.result.tools.map((t: { name: string }) => t.name);
    const again = (await modern("/mcp/alpha", f.alice, "tools/list")).body.result.tools.map(
      (t: { name: string }) => t.name,
    );
    expect(again).toEqual(names);
    const { session } = await rawInitialize(f.t.url, "/mcp/alpha", f.alice);
    const legacy = await rawPost(
      f.t.url,
      "/mcp/alpha",
      f.alice,
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
      { "mcp-session-id": session! },
    );
    expect(legacy.body.result.tools.map((t: { name: string }) => t.name)).toEqual(names);
    // a forwarded resources/read carries hints too: private through the gateway, whatever the upstream said
    const uri = (await modern("/mcp/alpha", f.alice, "resources/list")).body.result.resources[0].uri as string;
    const read = await modern("/mcp/alpha", f.alice, "resources/read", { uri });
    expect(read.body.result).toMatchObject({
      resultType: "complete",
      cacheScope: "private",
      ttlMs: expect.any(Number),
    });
  });

  it("checks MCP-Protocol-Version, Mcp-Method and Mcp-Name against the body (-32020, HTTP 400)", async () => {
    const noVersion = await modern("/mcp/alpha", f.alice, "tools/list", {}, { "mcp-protocol-version": "" });
    expect(noVersion.status).toBe(400);
    const wrongMethod = await modern("/mcp/alpha", f.alice, "tools/list", {}, { "mcp-method": "tools/call" });
    expect(wrongMethod.status).toBe(400);
    expect(wrongMethod.body.error.code).toBe(-32020);
    const noMethod = await rawPost(
      f.t.url,
      "/mcp/alpha",
      f.alice,
      { jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: META() } },
      { "mcp-protocol-version": "2026-07-28" },
    );
    expect(noMethod.status).toBe(400);
    expect(noMethod.body.error.code).toBe(-32020);
    const wrongName = await modern(
      "/mcp/alpha",
      f.alice,
      "tools/call",
      { name: "echo", arguments: { message: "m" } },
      { "mcp-name": "get-sum" },
    );
    expect(wrongName.status).toBe(400);
    expect(wrongName.body.error.code).toBe(-32020);
    const noName = await rawPost(
      f.t.url,
      "/mcp/alpha",
      f.alice,
      {
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "echo", arguments: { message: "m" }, _meta: META() },
      },
      { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call" },
    );
    expect(noName.status).toBe(400);
    expect(noName.body.error.code).toBe(-32020);
    // the Base64 sentinel is decoded before comparing
    const b64 = await modern(
      "/mcp/alpha",
      f.alice,
      "tools/call",
      { name: "echo", arguments: { message: "b64" } },
      { "mcp-name": `=?base64?${btoa("echo")}?=` },
    );
    expect(b64.status).toBe(200);
    expect(b64.body.result.content[0].text).toBe("Echo: b64");
  });

  it("refuses an unsupported version with -32022 and the supported list, missing capabilities with -32602", async () => {
    const r = await rawPost(
      f.t.url,
      "/mcp/alpha",
      f.alice,
      {
        jsonrpc: "2.0",
        id: 7,
        method: "tools/list",
        params: { _meta: { ...META(), "io.modelcontextprotocol/protocolVersion": "2099-01-01" } },
      },
      { "mcp-protocol-version": "2099-01-01", "mcp-method": "tools/list" },
    );
    expect(r.status).toBe(400);
    expect(r.body.id).toBe(7);
    expect(r.body.error).toMatchObject({
      code: -32022,
      data: { supported: expect.arrayContaining(["2026-07-28", "2025-11-25"]), requested: "2099-01-01" },
    });
    const noCaps = await rawPost(
      f.t.url,
      "/mcp/alpha",
      f.alice,
      {
        jsonrpc: "2.0",
        id: 8,
        method: "tools/list",
        params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } },
      },
      { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list" },
    );
    expect(noCaps.status).toBe(400);
    expect(noCaps.body.error.code).toBe(-32602);
  });

  it("answers 405 to GET and DELETE of modern clients, 404 -32601 to methods it does not have", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await fetch(`${f.t.url}/mcp/alpha`, {
        method,
        headers: {
          authorization: `Bearer ${f.alice}`,
          "mcp-protocol-version": "2026-07-28",
          accept: "text/event-stream",
        },
      });
      expect(res.status, method).toBe(405);
      await res.body?.cancel();
    }
    for (const method of ["no/such/method", "ping", "logging/setLevel", "resources/subscribe"]) {
      const r = await modern("/mcp/alpha", f.alice, method);
      expect(r.status, method).toBe(404);
      expect(r.body.error.code, method).toBe(-32601);
    }
  });

  it("answers an unknown or hidden resource with -32602, and puts resultType on forwarded results", async () => {
    const missing = await modern("/mcp", f.alice, "resources/read", { uri: "demo://resource/nope" });
    expect(missing.body.error).toMatchObject({ code: -32602, message: "Resource not found" });
    const call = await modern("/mcp/alpha", f.alice, "tools/call", { name: "get-sum", arguments: { a: 2, b: 3 } });
    expect(call.body.result.resultType).toBe("complete");
    expect(call.body.result._meta["io.modelcontextprotocol/serverInfo"].name).toBe("mcp-servers/everything");
    expect(call.body.result.content[0].text).toContain("5");
  });

  it("keeps a session-era session-less: a modern request never gets an Mcp-Session-Id", async () => {
    const r = await modern("/mcp/alpha", f.alice, "tools/list");
    expect(r.headers.get("mcp-session-id")).toBeNull();
  });
});

const CAPS = { sampling: {}, elicitation: { form: {} }, roots: {} };

describe("the bridge: a 2026-07-28 client in front of a session-era upstream", () => {
  it("carries elicitation, sampling and roots as MRTR rounds the SDK client fulfils, answers reaching the upstream", async () => {
    const client = await sdkClient("/mcp/alpha", f.alice, CAPS);
    const asked: string[] = [];
    client.setRequestHandler("elicitation/create", async (req) => {
      asked.push(`elicitation: ${req.params.message}`);
      return { action: "accept", content: { name: "Ada Lovelace", check: true } };
    });
    client.setRequestHandler("sampling/createMessage", async (req) => {
      asked.push(`sampling: ${JSON.stringify(req.params.messages[0]?.content)}`);
      return { role: "assistant", model: "test-model", content: { type: "text", text: "sampled through MRTR" } };
    });
    client.setRequestHandler("roots/list", async () => {
      asked.push("roots");
      return { roots: [{ uri: "file:///modern/root", name: "modern root" }] };
    });
    try {
      const elicited = await client.callTool({ name: "trigger-elicitation-request", arguments: {} });
      expect(JSON.stringify(elicited.content)).toContain("Ada Lovelace");
      const sampled = await client.callTool({
        name: "trigger-sampling-request",
        arguments: { prompt: "hello", maxTokens: 20 },
      });
      expect(JSON.stringify(sampled.content)).toContain("sampled through MRTR");
      const roots = await client.callTool({ name: "get-roots-list", arguments: {} });
      expect(JSON.stringify(roots.content)).toContain("file:///modern/root");
      expect(asked.some((a) => a.startsWith("elicitation:"))).toBe(true);
      expect(asked.some((a) => a.startsWith("sampling:"))).toBe(true);
      expect(asked).toContain("roots");
    } finally {
      await client.close();
    }
  });

  it("seals the requestState: bound to the user and the request, used once", async () => {
    const call = (key: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}, id = 1) =>
      modern(
        "/mcp/alpha",
        key,
        "tools/call",
        { name: "trigger-elicitation-request", arguments: args, _meta: META(CAPS), ...extra },
        {},
        id,
      );
    const first = await call(f.alice, {});
    expect(first.body.result).toMatchObject({
      resultType: "input_required",
      inputRequests: { r0: { method: "elicitation/create" } },
    });
    const state = first.body.result.requestState as string;
    expect(state).toMatch(/^mcpgw-state\./);
    const answer = { inputResponses: { r0: { action: "accept", content: { name: "Grace", check: true } } } };
    // altered, another user's, another request's: refused, and the real one still works
    const altered = await call(
      f.alice,
      {},
      { ...answer, requestState: state.slice(0, -4) + (state.endsWith("AAAA") ? "BBBB" : "AAAA") },
      2,
    );
    expect(altered.body.error?.code).toBe(-32602);
    const otherUser = await rawPost(
      f.t.url,
      "/mcp/alpha",
      f.bob,
      {
        jsonrpc: "2.0",
        id: 3,
        method: "tools/call",
        params: {
          name: "trigger-elicitation-request",
          arguments: {},
          _meta: META(CAPS),
          ...answer,
          requestState: state,
        },
      },
      { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "trigger-elicitation-request" },
    );
    expect(otherUser.status).toBe(403); // bob may not use alpha at all
    const otherRequest = await call(f.alice, { unexpected: true }, { ...answer, requestState: state }, 4);
    expect(otherRequest.body.error?.message).toMatch(/requestState is not valid/);
    const retried = await call(f.alice, {}, { ...answer, requestState: state }, 5);
    expect(retried.body.result.resultType).toBe("complete");
    expect(JSON.stringify(retried.body.result.content)).toContain("Grace");
    const replayed = await call(f.alice, {}, { ...answer, requestState: state }, 6);
    expect(replayed.body.error?.message).toMatch(/already used/);
  });

  it("streams progress on the request's own stream, and log messages only at or above the request's logLevel", async () => {
    const progress: number[] = [];
    const client = await sdkClient("/mcp/alpha", f.alice);
    try {
      const res = await client.callTool(
        { name: "trigger-long-running-operation", arguments: { duration: 1, steps: 3 } },
        { onprogress: (p) => void progress.push(p.progress) },
      );
      expect(JSON.stringify(res.content)).toMatch(/completed/i);
      expect(progress.length).toBeGreaterThanOrEqual(2);
    } finally {
      await client.close();
    }
    // raw: without a logLevel no notifications/message reach the request's stream
    const quiet = await modern(
      "/mcp/alpha",
      f.alice,
      "tools/call",
      {
        name: "trigger-long-running-operation",
        arguments: { duration: 1, steps: 2 },
        _meta: { ...META(), progressToken: "p1" },
      },
      { accept: "text/event-stream" },
    );
    expect(
      quiet.messages.filter((m: { method?: string }) => m.method === "notifications/progress").length,
    ).toBeGreaterThan(0);
    expect(quiet.messages.some((m: { method?: string }) => m.method === "notifications/message")).toBe(false);
  });
});
