// The bridge in all four directions, with real parts: a 2026-07-28-only upstream and the same server
// in its session-era mode (scripts/lib/modern-upstream.ts, SDK 2.x), server-everything (SDK 1.x),
// and clients of both eras - the SDK 1.x client, the SDK 2.x client pinned to 2026-07-28, raw HTTP.
// Each direction carries elicitation, sampling, progress and cancellation.
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from "@modelcontextprotocol/client";
import { Client as Client1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as Transport1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startModernUpstream } from "../../scripts/lib/modern-upstream";
import { rawPost, startMcpFixture, type McpFixture } from "./mcp.fixture";

type Up = Awaited<ReturnType<typeof startModernUpstream>>;
let f: McpFixture;
let mod: Up;
let old: Up;

beforeAll(async () => {
  [mod, old] = await Promise.all([startModernUpstream({ eras: "modern" }), startModernUpstream({ eras: "legacy" })]);
  // keep-alives every 200 ms: a modern client's closed stream (its cancellation) is noticed at the next write
  f = await startMcpFixture({ MCP_SSE_PING_MS: "200" });
  await f.t.db.sql`INSERT INTO servers (id, tenant_id, url, headers) VALUES
    ('mod', 'acme', ${mod.url}, ${f.t.db.sql.json({ "X-Upstream-Secret": "mod-secret" })}),
    ('old', 'acme', ${old.url}, ${f.t.db.sql.json({})})`;
});
afterAll(async () => {
  await f?.stop();
  await Promise.all([mod?.stop(), old?.stop()]);
});

const CAPS = { sampling: {}, elicitation: { form: {}, url: {} }, roots: { listChanged: true } };

/** A session-era client (SDK 1.x) answering sampling, elicitation and roots. */
async function legacyClient(path: string, key = f.alice, caps: Record<string, unknown> = CAPS) {
  const client = new Client1({ name: "legacy-1x", version: "1.0.0" }, { capabilities: caps });
  if (caps.sampling)
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      role: "assistant",
      model: "legacy-model",
      content: { type: "text", text: "the answer is 42" },
    }));
  if (caps.elicitation)
    client.setRequestHandler(ElicitRequestSchema, async (req) =>
      req.params.mode === "url" ? { action: "accept" } : { action: "accept", content: { name: "Ada", color: "blue" } },
    );
  if (caps.roots)
    client.setRequestHandler(ListRootsRequestSchema, async () => ({
      roots: [{ uri: "file:///legacy/root", name: "legacy root" }],
    }));
  await client.connect(
    new Transport1(new URL(f.t.url + path), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }),
  );
  return client;
}

/** A 2026-07-28 client (SDK 2.x, pinned) answering sampling, elicitation and roots through MRTR. */
async function modernClient(path: string, key = f.alice, caps: Record<string, unknown> = CAPS) {
  const client = new Client2(
    { name: "modern-2x", version: "2.0.0" },
    { capabilities: caps, versionNegotiation: { mode: { pin: "2026-07-28" } } },
  );
  client.setRequestHandler("sampling/createMessage", async () => ({
    role: "assistant",
    model: "modern-model",
    content: { type: "text", text: "the answer is 42" },
  }));
  client.setRequestHandler("elicitation/create", async (req) =>
    req.params.mode === "url" ? { action: "accept" } : { action: "accept", content: { name: "Ada", color: "blue" } },
  );
  client.setRequestHandler("roots/list", async () => ({
    roots: [{ uri: "file:///modern/root", name: "modern root" }],
  }));
  await client.connect(
    new Transport2(new URL(f.t.url + path), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }),
  );
  return client;
}

const text = (r: unknown) => JSON.stringify((r as { content?: unknown }).content);

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("session-era client -> modern upstream", () => {
  it("turns input_required into real requests the client answers: elicitation, sampling, roots, two rounds", async () => {
    const c = await legacyClient("/mcp/mod");
    try {
      expect(text(await c.callTool({ name: "test_input_required_result_elicitation", arguments: {} }))).toContain(
        "Hello, Ada!",
      );
      expect(text(await c.callTool({ name: "test_input_required_result_sampling", arguments: {} }))).toContain(
        "the answer is 42",
      );
      expect(text(await c.callTool({ name: "test_input_required_result_list_roots", arguments: {} }))).toContain(
        "file:///legacy/root",
      );
      expect(text(await c.callTool({ name: "test_input_required_result_multi_round", arguments: {} }))).toContain(
        "color: blue",
      );
      // and through the aggregate endpoint under the prefixed name
    } finally {
      await c.close();
    }
    const agg = await legacyClient("/mcp");
    try {
      expect(
        text(await agg.callTool({ name: "mod__test_input_required_result_elicitation", arguments: {} })),
      ).toContain("Hello, Ada!");
    } finally {
      await agg.close();
    }
  });

  it("passes on a conformant upstream's refusal to ask a client that did not declare the capability (-32021), without hanging", async () => {
    // (an upstream that asks anyway gets the client a tool error naming what was asked, a URL as a
    // link: test/unit/bridge.test.ts; a conformant one refuses itself, which the client then sees)
    const c = await legacyClient("/mcp/mod", f.alice, {});
    try {
      await expect(c.callTool({ name: "test_input_required_result_url", arguments: {} })).rejects.toThrow(/-32021/);
    } finally {
      await c.close();
    }
  });

  it("relays progress, turns logging/setLevel into the per-request logLevel, and cancels by closing the upstream request", async () => {
    const c = await legacyClient("/mcp/mod");
    const logs: { level: string }[] = [];
    c.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => void logs.push({ level: n.params.level }));
    try {
      const progress: number[] = [];
      await c.callTool({ name: "test_tool_with_progress", arguments: {} }, undefined, {
        onprogress: (p) => void progress.push(p.progress),
      });
      expect(progress.length).toBeGreaterThanOrEqual(2);
      await c.setLoggingLevel("warning");
      await c.callTool({ name: "test_tool_with_logging", arguments: {} });
      expect(logs.length).toBeGreaterThan(0);
      expect(logs.every((l) => ["warning", "error", "critical", "alert", "emergency"].includes(l.level))).toBe(true);
      const before = mod.state.cancelled;
      const ctl = new AbortController();
      const slow = c.callTool({ name: "slow", arguments: { ms: 5000 } }, undefined, { signal: ctl.signal });
      await new Promise((r) => setTimeout(r, 1000));
      ctl.abort();
      await expect(slow).rejects.toThrow();
      await until(() => mod.state.cancelled > before);
    } finally {
      await c.close();
    }
  });
});

describe("modern client -> modern upstream", () => {
  it("passes MRTR through with the gateway's sealed state: elicitation, sampling, roots, two rounds", async () => {
    const c = await modernClient("/mcp/mod");
    try {
      expect(c.getProtocolEra()).toBe("modern");
      expect(text(await c.callTool({ name: "test_input_required_result_elicitation", arguments: {} }))).toContain(
        "Hello, Ada!",
      );
      expect(text(await c.callTool({ name: "test_input_required_result_sampling", arguments: {} }))).toContain(
        "the answer is 42",
      );
      expect(text(await c.callTool({ name: "test_input_required_result_list_roots", arguments: {} }))).toContain(
        "file:///modern/root",
      );
      expect(text(await c.callTool({ name: "test_input_required_result_multi_round", arguments: {} }))).toContain(
        "color: blue",
      );
    } finally {
      await c.close();
    }
  });

  it("sends the user's _meta and the standard and Mcp-Param headers upstream, secrets injected", async () => {
    const c = await modernClient("/mcp/mod");
    try {
      const r = await c.callTool({ name: "query_region", arguments: { region: "eu-west1", query: "select 1" } });
      expect(text(r)).toContain("header: eu-west1");
      const seen = mod.requests
        .filter((q) => (q.body as any)?.method === "tools/call" && (q.body as any)?.params?.name === "query_region")
        .at(-1)! as { headers: Record<string, string>; body: any };
      expect(seen.headers["mcp-param-region"]).toBe("eu-west1");
      expect(seen.headers["mcp-method"]).toBe("tools/call");
      expect(seen.headers["mcp-name"]).toBe("query_region");
      expect(seen.headers["x-upstream-secret"]).toBe("mod-secret");
      expect(seen.headers.authorization).toBeUndefined();
      expect(seen.body.params._meta["io.modelcontextprotocol/clientInfo"]).toEqual({
        name: "modern-2x",
        version: "2.0.0",
      });
    } finally {
      await c.close();
    }
    // a modern client's own Mcp-Param header must agree with its arguments
    const meta = {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientCapabilities": {},
    };
    const bad = await rawPost(
      f.t.url,
      "/mcp/mod",
      f.alice,
      {
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "query_region", arguments: { region: "eu", query: "q" }, _meta: meta },
      },
      {
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "query_region",
        "mcp-param-region": "us",
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe(-32020);
  });

  it("relays progress and cancels by closing the stream", async () => {
    const c = await modernClient("/mcp/mod");
    try {
      const progress: number[] = [];
      await c.callTool(
        { name: "test_tool_with_progress", arguments: {} },
        { onprogress: (p) => void progress.push(p.progress) },
      );
      expect(progress.length).toBeGreaterThanOrEqual(2);
      const before = mod.state.cancelled;
      const ctl = new AbortController();
      const slow = c.callTool({ name: "slow", arguments: { ms: 5000 } }, { signal: ctl.signal });
      await new Promise((r) => setTimeout(r, 1000));
      ctl.abort();
      await expect(slow).rejects.toThrow();
      await until(() => mod.state.cancelled > before);
    } finally {
      await c.close();
    }
  });

  it("delivers list changes and resource updates of the user's servers on subscriptions/listen", async () => {
    const c = await modernClient("/mcp");
    try {
      const got: string[] = [];
      c.setNotificationHandler(
        "notifications/resources/updated",
        async () => void got.push("notifications/resources/updated"),
      );
      c.setNotificationHandler(
        "notifications/tools/list_changed",
        async () => void got.push("notifications/tools/list_changed"),
      );
      const sub = await c.listen({ toolsListChanged: true, resourceSubscriptions: ["test://watched-resource"] });
      expect(sub.honoredFilter).toEqual({ toolsListChanged: true, resourceSubscriptions: ["test://watched-resource"] });
      await c.callTool({ name: "mod__update_resource", arguments: {} });
      await c.callTool({ name: "mod__add_tool", arguments: { name: "fresh_tool", text: "fresh" } });
      await until(
        () => got.includes("notifications/resources/updated") && got.includes("notifications/tools/list_changed"),
        8000,
      );
      const { tools } = await c.listTools();
      expect(tools.map((t) => t.name)).toContain("mod__fresh_tool");
      await sub.close();
    } finally {
      await c.close();
    }
  });
});

describe("modern client -> session-era upstream", () => {
  it("turns the upstream's requests into MRTR rounds: elicitation, sampling", async () => {
    const c = await modernClient("/mcp/old");
    try {
      expect(text(await c.callTool({ name: "test_elicitation", arguments: { message: "who are you?" } }))).toContain(
        "Ada",
      );
      expect(text(await c.callTool({ name: "test_sampling", arguments: { prompt: "meaning of life" } }))).toContain(
        "the answer is 42",
      );
    } finally {
      await c.close();
    }
  });

  it("relays progress, and turns a closed stream into notifications/cancelled upstream", async () => {
    const c = await modernClient("/mcp/old");
    try {
      const progress: number[] = [];
      await c.callTool(
        { name: "test_tool_with_progress", arguments: {} },
        { onprogress: (p) => void progress.push(p.progress) },
      );
      expect(progress.length).toBeGreaterThanOrEqual(2);
      const before = old.state.cancelled;
      const ctl = new AbortController();
      const slow = c.callTool({ name: "slow", arguments: { ms: 5000 } }, { signal: ctl.signal });
      await new Promise((r) => setTimeout(r, 1000));
      ctl.abort();
      await expect(slow).rejects.toThrow();
      await until(() => old.state.cancelled > before);
    } finally {
      await c.close();
    }
  });
});

describe("session-era client -> session-era upstream", () => {
  it("carries elicitation, sampling, progress and cancellation (notifications/cancelled passed on)", async () => {
    const c = await legacyClient("/mcp/old");
    try {
      expect(text(await c.callTool({ name: "test_elicitation", arguments: { message: "who are you?" } }))).toContain(
        "Ada",
      );
      expect(text(await c.callTool({ name: "test_sampling", arguments: { prompt: "meaning of life" } }))).toContain(
        "the answer is 42",
      );
      const progress: number[] = [];
      await c.callTool({ name: "test_tool_with_progress", arguments: {} }, undefined, {
        onprogress: (p) => void progress.push(p.progress),
      });
      expect(progress.length).toBeGreaterThanOrEqual(2);
      const before = old.state.cancelled;
      const ctl = new AbortController();
      const slow = c.callTool({ name: "slow", arguments: { ms: 5000 } }, undefined, { signal: ctl.signal });
      await new Promise((r) => setTimeout(r, 1000));
      ctl.abort();
      await expect(slow).rejects.toThrow();
      await until(() => old.state.cancelled > before);
    } finally {
      await c.close();
    }
  });
});

describe("isolation across eras", () => {
  it("hides another tenant's modern server from a user under every spelling, in both eras", async () => {
    const modernBob = await rawPost(
      f.t.url,
      "/mcp/mod",
      f.bob,
      {
        jsonrpc: "2.0",
        id: 1,
        method: "tools/list",
        params: {
          _meta: {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
          },
        },
      },
      { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list" },
    );
    expect(modernBob.status).toBe(403);
    const c = await modernClient("/mcp", f.bob);
    try {
      const names = (await c.listTools()).tools.map((t) => t.name);
      expect(names.some((n) => n.startsWith("mod__") || n.startsWith("old__"))).toBe(false);
      for (const name of ["mod__echo", "MOD__echo", "echo", "mod__echo\u200b", "old__slow"]) {
        await expect(c.callTool({ name, arguments: { message: "x" } }), name).rejects.toThrow(/Unknown tool/);
      }
    } finally {
      await c.close();
    }
    const l = await legacyClient("/mcp", f.bob);
    try {
      for (const name of ["mod__echo", "old__slow"])
        await expect(l.callTool({ name, arguments: {} })).rejects.toThrow(/Unknown tool/);
    } finally {
      await l.close();
    }
  });
});
