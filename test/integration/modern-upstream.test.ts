/**
 * The modern test upstream (scripts/lib/modern-upstream.ts, built with @modelcontextprotocol/server
 * 2.x) talked to directly with @modelcontextprotocol/client 2.x, so the gateway tests can rely on
 * what it does: modern-only, dual-era (2025 sessions next to 2026-07-28) and dual-era stateless.
 * No gateway here; raw HTTP where the point is the wire (headers, error codes).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Client,
  LOG_LEVEL_META_KEY,
  PROTOCOL_VERSION_META_KEY,
  CLIENT_CAPABILITIES_META_KEY,
  ProtocolError,
  StreamableHTTPClientTransport,
  type ClientCapabilities,
} from "@modelcontextprotocol/client";
import { startModernUpstream, WATCHED_URI, type ModernUpstream } from "../../scripts/lib/modern-upstream";

const MODERN = "2026-07-28";

let modern: ModernUpstream;
let dual: ModernUpstream;
let dualStateless: ModernUpstream;
let legacyOnly: ModernUpstream;
const clients: Client[] = [];

beforeAll(async () => {
  [modern, dual, dualStateless, legacyOnly] = await Promise.all([
    startModernUpstream({ eras: "modern" }),
    startModernUpstream({ eras: "dual" }),
    startModernUpstream({ eras: "dual-stateless" }),
    startModernUpstream({ eras: "legacy" }),
  ]);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await Promise.all([modern?.stop(), dual?.stop(), dualStateless?.stop(), legacyOnly?.stop()]);
});

const FULL_CAPS: ClientCapabilities = {
  elicitation: { form: {}, url: {} },
  sampling: {},
  roots: { listChanged: true },
};

/** A 2.x client; `mode: "auto"` probes server/discover and falls back to initialize. */
async function connect(
  url: string,
  opts: { mode?: "auto" | "legacy"; capabilities?: ClientCapabilities; answers?: boolean } = {},
): Promise<Client> {
  const client = new Client(
    { name: "modern-upstream-test", version: "1.0.0" },
    { capabilities: opts.capabilities ?? FULL_CAPS, versionNegotiation: { mode: opts.mode ?? "auto" } },
  );
  if (opts.answers ?? true) {
    client.setRequestHandler("elicitation/create", async (req) => {
      const p = req.params as { mode?: string; url?: string; message: string };
      if (p.mode === "url") return { action: "accept" };
      return { action: "accept", content: { name: "Ada", context: "ctx-from-test", ok: true, color: "teal" } };
    });
    client.setRequestHandler("sampling/createMessage", async () => ({
      role: "assistant",
      content: { type: "text", text: "Paris" },
      model: "test-model",
      stopReason: "endTurn",
    }));
    client.setRequestHandler("roots/list", async () => ({ roots: [{ uri: "file:///work/root", name: "root" }] }));
  }
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  clients.push(client);
  return client;
}

const methodsOf = (up: ModernUpstream) =>
  up.requests.map((r) => (r.body as { method?: string } | undefined)?.method).filter(Boolean);
const textOf = (r: { content?: unknown }) =>
  ((r.content as { type: string; text?: string }[]) ?? []).map((c) => c.text ?? "").join("");

/** One raw 2026-07-28 POST; returns status and parsed JSON body (or the SSE frames' JSON). */
async function rawModern(
  url: string,
  method: string,
  params: Record<string, unknown> = {},
  headers: Record<string, string> = {},
  capabilities: ClientCapabilities = {},
) {
  const body = {
    jsonrpc: "2.0",
    id: 7,
    method,
    params: {
      ...params,
      _meta: {
        [PROTOCOL_VERSION_META_KEY]: MODERN,
        [CLIENT_CAPABILITIES_META_KEY]: capabilities,
        ...(params._meta as object),
      },
    },
  };
  const name = (params.name ?? params.uri) as string | undefined;
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN,
      "mcp-method": method,
      ...(name ? { "mcp-name": name } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const frames = res.headers.get("content-type")?.includes("text/event-stream")
    ? text
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => JSON.parse(l.slice(5)))
    : [JSON.parse(text)];
  return {
    status: res.status,
    frames,
    last: frames.at(-1) as {
      result?: Record<string, unknown>;
      error?: { code: number; message: string; data?: unknown };
    },
  };
}

describe("modern-only upstream, SDK 2.x client in auto mode", () => {
  it("negotiates the modern era through server/discover, with server info, instructions and capabilities", async () => {
    const c = await connect(modern.url);
    expect(c.getProtocolEra()).toBe("modern");
    expect(c.getNegotiatedProtocolVersion()).toBe(MODERN);
    const d = c.getDiscoverResult();
    expect(d?.supportedVersions).toEqual([MODERN]);
    expect(c.getServerVersion()).toEqual({ name: "mcp-gateway-modern-upstream", version: "1.0.0" });
    expect(c.getInstructions()).toMatch(/gateway/);
    expect(c.getServerCapabilities()).toMatchObject({
      tools: { listChanged: true },
      resources: { subscribe: true },
      prompts: {},
      completions: {},
    });
    expect(modern.requests.some((r) => (r.body as { method?: string })?.method === "initialize")).toBe(false);
  });

  it("lists tools, prompts, resources and templates with cache hints", async () => {
    const c = await connect(modern.url);
    const tools = await c.listTools();
    const names = tools.tools.map((t) => t.name);
    for (const n of [
      "test_simple_text",
      "add",
      "test_tool_with_progress",
      "test_logging_tool",
      "test_input_required_result_elicitation",
      "test_input_required_result_url",
      "test_input_required_result_sampling",
      "test_input_required_result_list_roots",
      "query_region",
      "add_tool",
      "update_resource",
    ]) {
      expect(names).toContain(n);
    }
    const raw = await rawModern(modern.url, "tools/list");
    expect(raw.last.result).toMatchObject({ resultType: "complete", ttlMs: 60_000, cacheScope: "public" });
    expect((await c.listPrompts()).prompts.map((p) => p.name)).toContain("test_prompt_with_arguments");
    expect((await c.listResources()).resources.map((r) => r.uri)).toEqual(
      expect.arrayContaining(["test://static-text", "test://static-binary", WATCHED_URI]),
    );
    expect((await c.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate)).toContain(
      "test://template/{id}/data",
    );
  });

  it("answers plain text, structured content and tool errors", async () => {
    const c = await connect(modern.url);
    expect(textOf(await c.callTool({ name: "echo", arguments: { message: "hi" } }))).toBe("Echo: hi");
    const sum = await c.callTool({ name: "add", arguments: { a: 2, b: 3 } });
    expect(sum.structuredContent).toEqual({ sum: 5 });
    const err = await c.callTool({ name: "test_error_handling", arguments: {} });
    expect(err.isError).toBe(true);
    expect(textOf(err)).toMatch(/intentionally returns an error/);
  });

  it("streams progress notifications for a progress token", async () => {
    const c = await connect(modern.url);
    const seen: number[] = [];
    await c.callTool(
      { name: "test_tool_with_progress", arguments: {} },
      { onprogress: (p) => void seen.push(p.progress) },
    );
    expect(seen).toEqual([0, 50, 100]);
  });

  it("logs only at and above the request's logLevel, and nothing without one", async () => {
    const levels = async (logLevel?: string) => {
      const r = await rawModern(modern.url, "tools/call", {
        name: "test_logging_tool",
        arguments: {},
        ...(logLevel ? { _meta: { [LOG_LEVEL_META_KEY]: logLevel } } : {}),
      });
      return r.frames.filter((f) => f.method === "notifications/message").map((f) => f.params.level);
    };
    expect(await levels("debug")).toEqual(["debug", "info", "info", "warning"]);
    expect(await levels("warning")).toEqual(["warning"]);
    expect(await levels()).toEqual([]);
  });

  it("asks for input in the result (MRTR) and completes on the retry: form and URL elicitation, sampling, roots", async () => {
    const c = await connect(modern.url);
    expect(textOf(await c.callTool({ name: "test_input_required_result_elicitation", arguments: {} }))).toBe(
      "Hello, Ada!",
    );
    expect(textOf(await c.callTool({ name: "test_input_required_result_url", arguments: {} }))).toBe(
      "URL elicitation answered: accept",
    );
    expect(textOf(await c.callTool({ name: "test_input_required_result_sampling", arguments: {} }))).toBe(
      "LLM response: Paris",
    );
    expect(textOf(await c.callTool({ name: "test_input_required_result_list_roots", arguments: {} }))).toBe(
      "Roots: file:///work/root",
    );
    expect(textOf(await c.callTool({ name: "test_input_required_result_multi_round", arguments: {} }))).toBe(
      "Name: Ada, color: teal",
    );
    const prompt = await c.getPrompt({ name: "test_input_required_result_prompt", arguments: {} });
    expect(prompt.messages[0]?.content).toEqual({ type: "text", text: "Context: ctx-from-test" });
    const read = await c.readResource({ uri: "test://confirmed-resource" });
    expect(read.contents[0]).toMatchObject({ text: "Confirmed content." });
  });

  it("sends the input requests on the wire as an input_required result with a sealed requestState, and refuses a tampered one", async () => {
    const first = await rawModern(
      modern.url,
      "tools/call",
      { name: "test_input_required_result_request_state", arguments: {} },
      {},
      FULL_CAPS,
    );
    expect(first.status).toBe(200);
    const result = first.last.result as {
      resultType: string;
      inputRequests: Record<string, { method: string }>;
      requestState: string;
    };
    expect(result.resultType).toBe("input_required");
    expect(result.inputRequests.confirm?.method).toBe("elicitation/create");
    expect(typeof result.requestState).toBe("string");
    const inputResponses = { confirm: { action: "accept", content: { ok: true } } };
    const ok = await rawModern(
      modern.url,
      "tools/call",
      {
        name: "test_input_required_result_request_state",
        arguments: {},
        inputResponses,
        requestState: result.requestState,
      },
      {},
      FULL_CAPS,
    );
    expect(textOf(ok.last.result as { content: unknown })).toBe("state-ok: confirmed=true");
    const tampered = result.requestState.slice(0, -4) + (result.requestState.endsWith("AAAA") ? "BBBB" : "AAAA");
    const bad = await rawModern(
      modern.url,
      "tools/call",
      { name: "test_input_required_result_request_state", arguments: {}, inputResponses, requestState: tampered },
      {},
      FULL_CAPS,
    );
    expect(bad.last.error?.code).toBe(-32602);
  });

  it("refuses a request that needs a capability the client did not declare (-32021, HTTP 400)", async () => {
    const r = await rawModern(modern.url, "tools/call", { name: "test_missing_capability", arguments: {} });
    expect(r.status).toBe(400);
    expect(r.last.error?.code).toBe(-32021);
    expect(r.last.error?.data).toMatchObject({ requiredCapabilities: { sampling: {} } });
    const c = await connect(modern.url, { capabilities: {}, answers: false });
    await expect(c.callTool({ name: "test_missing_capability", arguments: {} })).rejects.toMatchObject({
      code: -32021,
    });
  });

  it("receives the x-mcp-header parameter as Mcp-Param-Region (the client mirrors it), and refuses a mismatch (-32020)", async () => {
    const c = await connect(modern.url);
    await c.listTools();
    const r = await c.callTool({ name: "query_region", arguments: { region: "eu-west1", query: "select 1" } });
    expect(textOf(r)).toBe("Query 'select 1' ran in eu-west1 (header: eu-west1)");
    const seen = modern.requests
      .filter((q) => (q.body as { params?: { name?: string } })?.params?.name === "query_region")
      .at(-1);
    expect(seen?.headers["mcp-param-region"]).toBe("eu-west1");
    expect(seen?.headers["mcp-name"]).toBe("query_region");
    const mismatch = await rawModern(
      modern.url,
      "tools/call",
      { name: "query_region", arguments: { region: "eu-west1", query: "q" } },
      { "mcp-param-region": "us-east1" },
    );
    expect(mismatch.status).toBe(400);
    expect(mismatch.last.error?.code).toBe(-32020);
  });

  it("reads resources and templates, completes arguments, and answers a missing resource with -32602", async () => {
    const c = await connect(modern.url);
    expect((await c.readResource({ uri: "test://static-text" })).contents[0]).toMatchObject({
      text: "This is the content of the static text resource.",
    });
    expect((await c.readResource({ uri: "test://template/42/data" })).contents[0]).toMatchObject({
      text: JSON.stringify({ id: "42", templateTest: true, data: "Data for ID: 42" }),
    });
    const done = await c.complete({
      ref: { type: "ref/prompt", name: "test_prompt_with_arguments" },
      argument: { name: "arg1", value: "par" },
    });
    expect(done.completion.values).toEqual(["paris", "park", "party"]);
    const ids = await c.complete({
      ref: { type: "ref/resource", uri: "test://template/{id}/data" },
      argument: { name: "id", value: "1" },
    });
    expect(ids.completion.values).toEqual(["1", "12", "123"]);
    const missing = await c.readResource({ uri: "test://nope" }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ProtocolError);
    expect((missing as ProtocolError).code).toBe(-32602);
  });

  it("delivers list changes and resource updates on subscriptions/listen, and lists an added tool", async () => {
    const c = await connect(modern.url);
    const got: string[] = [];
    c.setNotificationHandler("notifications/tools/list_changed", () => void got.push("tools"));
    c.setNotificationHandler("notifications/resources/updated", (n) => void got.push(`updated ${n.params.uri}`));
    const sub = await c.listen({ toolsListChanged: true, resourceSubscriptions: [WATCHED_URI] });
    expect(sub.honoredFilter).toMatchObject({ toolsListChanged: true, resourceSubscriptions: [WATCHED_URI] });
    await c.callTool({ name: "add_tool", arguments: { name: "late_tool", text: "I came late" } });
    await c.callTool({ name: "update_resource", arguments: {} });
    await expect.poll(() => got, { timeout: 5000 }).toEqual(["tools", `updated ${WATCHED_URI}`]);
    await sub.close();
    const tools = await c.listTools({}, { cacheMode: "refresh" });
    expect(tools.tools.map((t) => t.name)).toContain("late_tool");
    expect(textOf(await c.callTool({ name: "late_tool", arguments: {} }))).toBe("I came late");
    expect((await c.readResource({ uri: WATCHED_URI }, { cacheMode: "bypass" })).contents[0]).toMatchObject({
      text: expect.stringMatching(/version [1-9]/),
    });
  });

  it("refuses the session era: initialize gets -32022 naming 2026-07-28, GET gets 405, and a legacy client cannot connect", async () => {
    const res = await fetch(modern.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "old", version: "1" } },
      }),
    });
    const body = (await res.json()) as { error: { code: number; message: string; data?: { supported?: string[] } } };
    expect(body.error.code).toBe(-32022);
    expect(body.error.data?.supported).toEqual([MODERN]);
    expect((await fetch(modern.url, { method: "GET", headers: { accept: "text/event-stream" } })).status).toBe(405);
    await expect(connect(modern.url, { mode: "legacy" })).rejects.toThrow();
  });
});

describe("dual-era upstream", () => {
  it("serves a modern client statelessly and a legacy client in a session, from the same definitions", async () => {
    const m = await connect(dual.url);
    expect(m.getProtocolEra()).toBe("modern");
    const l = await connect(dual.url, { mode: "legacy" });
    expect(l.getProtocolEra()).toBe("legacy");
    expect(l.getNegotiatedProtocolVersion()).toBe("2025-11-25");
    expect(dual.sessionCount()).toBeGreaterThanOrEqual(1);
    expect((await m.listTools()).tools.map((t) => t.name)).toEqual((await l.listTools()).tools.map((t) => t.name));
    expect(textOf(await l.callTool({ name: "echo", arguments: { message: "old" } }))).toBe("Echo: old");
  });

  it("turns input_required into real server-to-client requests for a session-era client (the SDK's legacy shim)", async () => {
    const l = await connect(dual.url, { mode: "legacy" });
    expect(textOf(await l.callTool({ name: "test_input_required_result_elicitation", arguments: {} }))).toBe(
      "Hello, Ada!",
    );
    expect(textOf(await l.callTool({ name: "test_sampling", arguments: { prompt: "capital?" } }))).toBe(
      "LLM response: Paris",
    );
    expect(textOf(await l.callTool({ name: "test_input_required_result_list_roots", arguments: {} }))).toBe(
      "Roots: file:///work/root",
    );
    expect(textOf(await l.callTool({ name: "test_input_required_result_multi_round", arguments: {} }))).toBe(
      "Name: Ada, color: teal",
    );
  });

  it("notifies a session-era client of list changes and of updates to resources it subscribed to", async () => {
    const l = await connect(dual.url, { mode: "legacy" });
    const got: string[] = [];
    l.setNotificationHandler("notifications/tools/list_changed", () => void got.push("tools"));
    l.setNotificationHandler("notifications/resources/updated", (n) => void got.push(`updated ${n.params.uri}`));
    await l.subscribeResource({ uri: WATCHED_URI });
    const m = await connect(dual.url);
    await m.callTool({ name: "add_tool", arguments: { name: "dual_added", text: "hello both" } });
    await m.callTool({ name: "update_resource", arguments: {} });
    await expect
      .poll(() => got, { timeout: 5000 })
      .toEqual(expect.arrayContaining(["tools", `updated ${WATCHED_URI}`]));
    expect((await l.listTools()).tools.map((t) => t.name)).toContain("dual_added");
  });

  it("keeps refusing modern requests that break the rules (-32602 without _meta, -32022 for an unknown version)", async () => {
    const noMeta = await fetch(dual.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/list",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list", params: {} }),
    });
    expect(noMeta.status).toBe(400);
    expect(((await noMeta.json()) as { error: { code: number } }).error.code).toBe(-32602);
    const r = await rawModern(
      dual.url,
      "server/discover",
      { _meta: { [PROTOCOL_VERSION_META_KEY]: "2099-01-01" } },
      { "mcp-protocol-version": "2099-01-01" },
    );
    expect(r.status).toBe(400);
    expect(r.last.error?.code).toBe(-32022);
  });
});

describe("dual-era stateless upstream", () => {
  it("answers a session-era client without a session (no Mcp-Session-Id), and a modern one", async () => {
    const l = await connect(dualStateless.url, { mode: "legacy" });
    expect(l.getProtocolEra()).toBe("legacy");
    expect(textOf(await l.callTool({ name: "test_simple_text", arguments: {} }))).toBe(
      "This is a simple text response for testing.",
    );
    const init = dualStateless.requests.find((r) => (r.body as { method?: string })?.method === "initialize");
    expect(init).toBeDefined();
    expect(dualStateless.requests.every((r) => r.headers["mcp-session-id"] === undefined)).toBe(true);
    const m = await connect(dualStateless.url);
    expect(m.getProtocolEra()).toBe("modern");
  });
});

describe("session-era-only upstream", () => {
  it("refuses the modern probe like any request without a session, so an auto-mode client falls back to initialize", async () => {
    const r = await rawModern(legacyOnly.url, "server/discover");
    expect(r.status).toBe(400);
    expect(r.last.error?.code).not.toBe(-32022);
    const before = legacyOnly.requests.length;
    const c = await connect(legacyOnly.url);
    expect(c.getProtocolEra()).toBe("legacy");
    const sent = methodsOf({ requests: legacyOnly.requests.slice(before) } as ModernUpstream);
    expect(sent.slice(0, 2)).toEqual(["server/discover", "initialize"]);
    expect(textOf(await c.callTool({ name: "test_input_required_result_elicitation", arguments: {} }))).toBe(
      "Hello, Ada!",
    );
  });

  it("starts POST streams with a priming event and a retry interval, and resumes a closed stream with Last-Event-ID", async () => {
    const c = await connect(legacyOnly.url, { mode: "legacy" });
    const sid = (c.transport as StreamableHTTPClientTransport).sessionId!;
    const post = await fetch(legacyOnly.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": sid,
        "mcp-protocol-version": "2025-11-25",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 41,
        method: "tools/call",
        params: { name: "test_reconnection", arguments: {} },
      }),
    });
    const first = await post.text();
    // the stream ends early (closed mid-call) with only its priming event: `id:` + `retry:` + empty data
    const ids = [...first.matchAll(/^id: (.+)$/gm)].map((m) => m[1]!);
    expect(first).toMatch(/^retry: 500$/m);
    expect(first).not.toContain('"id":41');
    expect(ids.length).toBeGreaterThan(0);
    const resumed = await fetch(legacyOnly.url, {
      headers: {
        accept: "text/event-stream",
        "mcp-session-id": sid,
        "mcp-protocol-version": "2025-11-25",
        "last-event-id": ids.at(-1)!,
      },
      signal: AbortSignal.timeout(5000),
    });
    const reader = resumed.body!.getReader();
    let text = "";
    while (!text.includes('"id":41')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    expect(text).toContain("Reconnection test completed successfully");
  });
});
