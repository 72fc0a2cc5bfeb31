/**
 * Issue 16: traces across every hop and Prometheus metrics, with real parts: workerd, Postgres,
 * server-everything behind a recording HTTP proxy (to see the trace context the upstream gets),
 * and an OTLP/HTTP receiver (test/harness/otlp-receiver.ts, protobuf decoded by protobufjs).
 */
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEverything, startModern, type Upstream } from "../../scripts/lib/upstreams";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../harness/otlp-receiver";
import { startTestStack, type TestStack } from "../harness/stack";
import { rawInitialize, rawPost } from "./mcp.fixture";

const METRICS_TOKEN = "metrics-token-for-the-observe-test-0123456789";
let t: TestStack;
let up: Upstream;
let otlp: OtlpReceiver;
let proxy: Proxy;
let modernProxy: Proxy;
let modernUp: Upstream;
let userKey: string;

interface Proxy {
  url: string;
  /** Trace header and body of each request the upstream received. */
  seen: { traceparent?: string; body: string }[];
  close(): Promise<void>;
}

/** A recording reverse proxy in front of a real upstream. */
async function startProxy(target: string): Promise<Proxy> {
  const seen: Proxy["seen"] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    seen.push({ traceparent: req.headers.traceparent as string | undefined, body });
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === "string" && k !== "host" && k !== "content-length") headers.set(k, v);
    const answer = await fetch(target, { method: req.method, headers, body: req.method === "POST" ? body : undefined });
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    if (answer.body) Readable.fromWeb(answer.body as any).pipe(res);
    else res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    seen,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  up = await startEverything("observe");
  proxy = await startProxy(up.url);
  modernUp = await startModern("observe-modern", "modern");
  modernProxy = await startProxy(modernUp.url);
  t = await startTestStack({ internalPort: 0, env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, METRICS_TOKEN } });
  const sql = t.db.sql;
  await sql`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')`;
  await sql`INSERT INTO servers (id, tenant_id, url) VALUES ('tools', 'acme', ${proxy.url}), ('modern', 'acme', ${modernProxy.url})`;
  await sql`INSERT INTO groups (name) VALUES ('eng')`;
  await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('eng', 'acme')`;
  userKey = await t.userKey("carol.private@example.test", { groups: ["eng"] });
}, 120_000);
afterAll(async () => {
  await t?.stop();
  await up?.proc.stop();
  await modernUp?.proc.stop();
  await proxy?.close();
  await modernProxy?.close();
  await otlp?.close();
});

const hex = (n: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");

async function spansOf(traceId: string, until: (s: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const spans = otlp.spans.filter((s) => s.traceId === traceId);
    if (until(spans) || Date.now() > deadline) return spans;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("traces", () => {
  it("one connected trace per request from the client's traceparent through edge, auth, mcp and catalog to the upstream", async () => {
    const init = await rawInitialize(t.url, "/mcp", userKey);
    expect(init.status).toBe(200);
    const traceId = hex(16);
    const clientSpan = hex(8);
    const seen = proxy.seen;
    seen.length = 0;
    const call = await rawPost(
      t.url,
      "/mcp",
      userKey,
      {
        jsonrpc: "2.0",
        id: 7,
        method: "tools/call",
        params: { name: "tools__echo", arguments: { message: "traced" } },
      },
      { "mcp-session-id": init.session!, accept: "application/json", traceparent: `00-${traceId}-${clientSpan}-01` },
    );
    expect(call.body.result.content[0].text).toBe("Echo: traced");

    const need = (s: ReceivedSpan[]) =>
      ["mcp-gateway", "mcp-gateway-auth", "mcp-gateway-mcp", "mcp-gateway-catalog"].every((svc) =>
        s.some((x) => x.service === svc),
      ) && s.some((x) => x.name.startsWith("upstream"));
    const spans = await spansOf(traceId, need);
    const by = (pred: (s: ReceivedSpan) => boolean) => {
      const hit = spans.filter(pred);
      expect(hit.length, JSON.stringify(spans.map((s) => [s.service, s.name]))).toBeGreaterThan(0);
      return hit;
    };
    const [edge] = by((s) => s.service === "mcp-gateway" && s.kind === 2);
    // the edge continues the client's trace: its parent is the client's span
    expect(edge!.parentSpanId).toBe(clientSpan);
    const [auth] = by((s) => s.service === "mcp-gateway-auth");
    expect(auth!.parentSpanId).toBe(edge!.spanId);
    const [mcp] = by((s) => s.service === "mcp-gateway-mcp" && s.kind === 2);
    expect(mcp!.parentSpanId).toBe(edge!.spanId);
    expect(mcp!.attributes).toMatchObject({
      "mcp.method": "tools/call",
      "mcp.server": "tools",
      "mcp.tool": "echo",
      "mcp.era": "legacy",
    });
    const catalog = by((s) => s.service === "mcp-gateway-catalog");
    for (const c of catalog) expect(c.parentSpanId).toBe(mcp!.spanId);
    const upstream = by((s) => s.service === "mcp-gateway-mcp" && s.kind === 3);
    for (const u of upstream) {
      expect(u.parentSpanId).toBe(mcp!.spanId);
      expect(u.attributes["mcp.server"]).toBe("tools");
      expect(u.end >= u.start).toBe(true);
    }
    // the upstream got the trace context, naming the gateway's client span as parent
    const upstreamSpanIds = new Set(upstream.map((u) => u.spanId));
    const received = seen.filter((r) => r.traceparent);
    expect(received.length).toBeGreaterThan(0);
    for (const r of received) {
      const [, tid, parent] = r.traceparent!.split("-");
      expect(tid).toBe(traceId);
      expect(upstreamSpanIds.has(parent!)).toBe(true);
    }
    expect(received.some((r) => r.body.includes('"tools/call"'))).toBe(true);
    expect(spans.every((s) => s.via === "protobuf")).toBe(true);
    // no span names or attributes carry the user
    expect(JSON.stringify(spans, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toMatch(
      /carol|example\.test/,
    );
  });

  it("2026-07-28: the upstream gets the trace context in the header and in the `_meta` trace keys, the same span in both", async () => {
    const traceId = hex(16);
    modernProxy.seen.length = 0;
    const meta = {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientCapabilities": {},
      "io.modelcontextprotocol/clientInfo": { name: "observe", version: "1" },
      traceparent: `00-${traceId}-${hex(8)}-01`,
    };
    const r = await rawPost(
      t.url,
      "/mcp/modern",
      userKey,
      {
        jsonrpc: "2.0",
        id: 3,
        method: "tools/call",
        params: { name: "echo", arguments: { message: "modern" }, _meta: meta },
      },
      {
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "echo",
        traceparent: meta.traceparent,
      },
    );
    expect(JSON.stringify(r.body.result)).toContain("modern");
    const call = modernProxy.seen.find((s) => s.body.includes('"tools/call"'));
    expect(call, JSON.stringify(modernProxy.seen)).toBeTruthy();
    expect(call!.traceparent!.split("-")[1]).toBe(traceId);
    expect(JSON.parse(call!.body).params._meta.traceparent).toBe(call!.traceparent);
    const spans = await spansOf(traceId, (s) => s.some((x) => x.service === "mcp-gateway-mcp" && x.kind === 2));
    const mcp = spans.find((x) => x.service === "mcp-gateway-mcp" && x.kind === 2)!;
    expect(mcp.attributes).toMatchObject({
      "mcp.method": "tools/call",
      "mcp.era": "modern",
      "mcp.server": "modern",
      "mcp.tool": "echo",
    });
  });

  const modernCall = (id: number, meta: Record<string, unknown>, headers: Record<string, string> = {}) =>
    rawPost(
      t.url,
      "/mcp/modern",
      userKey,
      {
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: { name: "echo", arguments: { message: "meta-traced" }, _meta: meta },
      },
      {
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "echo",
        ...headers,
      },
    );
  const modernMeta = (traceparent: string, tracestate?: string) => ({
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": { name: "observe", version: "1" },
    traceparent,
    ...(tracestate ? { tracestate } : {}),
  });

  it("2026-07-28 without a traceparent header: the `_meta` trace keys make one connected trace from the edge through auth, mcp and the catalog to the upstream", async () => {
    const traceId = hex(16);
    const clientSpan = hex(8);
    modernProxy.seen.length = 0;
    const r = await modernCall(4, modernMeta(`00-${traceId}-${clientSpan}-01`, "vendor=abc"));
    expect(JSON.stringify(r.body.result)).toContain("meta-traced");
    // the upstream continues the client's trace, in the header and in _meta, with the client's tracestate
    const call = modernProxy.seen.find((s) => s.body.includes('"tools/call"'))!;
    expect(call.traceparent!.split("-")[1]).toBe(traceId);
    expect(JSON.parse(call.body).params._meta.traceparent).toBe(call.traceparent);
    expect(JSON.parse(call.body).params._meta.tracestate).toBe("vendor=abc");
    const need = (s: ReceivedSpan[]) =>
      ["mcp-gateway", "mcp-gateway-auth", "mcp-gateway-mcp", "mcp-gateway-catalog"].every((svc) =>
        s.some((x) => x.service === svc),
      ) && s.some((x) => x.kind === 3);
    const spans = await spansOf(traceId, need);
    const names = JSON.stringify(spans.map((s) => [s.service, s.name]));
    // the edge read the trace context from the message and started its span under the client's
    const edge = spans.find((x) => x.service === "mcp-gateway" && x.kind === 2);
    expect(edge, names).toBeTruthy();
    expect(edge!.parentSpanId).toBe(clientSpan);
    expect(edge!.attributes["mcpgw.trace_source"]).toBe("_meta");
    const auth = spans.find((x) => x.service === "mcp-gateway-auth");
    expect(auth, names).toBeTruthy();
    expect(auth!.parentSpanId).toBe(edge!.spanId);
    const mcp = spans.find((x) => x.service === "mcp-gateway-mcp" && x.kind === 2);
    expect(mcp, names).toBeTruthy();
    expect(mcp!.parentSpanId).toBe(edge!.spanId);
    expect(mcp!.attributes).toMatchObject({
      "mcp.method": "tools/call",
      "mcp.era": "modern",
      "mcp.server": "modern",
      "mcp.tool": "echo",
    });
    // nothing was left in a trace of the edge's own
    expect(mcp!.attributes["mcpgw.edge_trace_id"]).toBeUndefined();
    for (const c of spans.filter((x) => x.service === "mcp-gateway-catalog")) expect(c.parentSpanId).toBe(mcp!.spanId);
    const upstream = spans.filter((x) => x.service === "mcp-gateway-mcp" && x.kind === 3);
    expect(upstream.length).toBeGreaterThan(0);
    for (const u of upstream) expect(u.parentSpanId).toBe(mcp!.spanId);
    expect(call.traceparent!.split("-")[2]).toBe(
      upstream.find((u) => u.name.includes("tools/call"))?.spanId ?? upstream[0]!.spanId,
    );
  });

  it("2026-07-28, a body larger than the edge reads (64 KiB): mcp, the catalog and the upstream continue the `_meta` trace, the edge's own trace named in `mcpgw.edge_trace_id`", async () => {
    const traceId = hex(16);
    const clientSpan = hex(8);
    modernProxy.seen.length = 0;
    const big = "x".repeat(70 * 1024);
    const r = await rawPost(
      t.url,
      "/mcp/modern",
      userKey,
      {
        jsonrpc: "2.0",
        id: 8,
        method: "tools/call",
        params: { name: "echo", arguments: { message: big }, _meta: modernMeta(`00-${traceId}-${clientSpan}-01`) },
      },
      {
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "echo",
      },
    );
    expect(JSON.stringify(r.body.result)).toContain(big);
    const call = modernProxy.seen.find((s) => s.body.includes('"tools/call"'))!;
    expect(call.traceparent!.split("-")[1]).toBe(traceId);
    const spans = await spansOf(
      traceId,
      (s) =>
        s.some((x) => x.service === "mcp-gateway-mcp" && x.kind === 2) &&
        s.some((x) => x.service === "mcp-gateway-catalog") &&
        s.some((x) => x.kind === 3),
    );
    const mcp = spans.find((x) => x.service === "mcp-gateway-mcp" && x.kind === 2);
    expect(mcp, JSON.stringify(spans.map((s) => [s.service, s.name]))).toBeTruthy();
    expect(mcp!.parentSpanId).toBe(clientSpan);
    expect(mcp!.attributes).toMatchObject({
      "mcp.method": "tools/call",
      "mcp.era": "modern",
      "mcpgw.trace_source": "_meta",
    });
    for (const c of spans.filter((x) => x.service === "mcp-gateway-catalog")) expect(c.parentSpanId).toBe(mcp!.spanId);
    expect(spans.some((x) => x.service === "mcp-gateway")).toBe(false);
    const edgeTrace = String(mcp!.attributes["mcpgw.edge_trace_id"]);
    expect(edgeTrace).toMatch(/^[0-9a-f]{32}$/);
    expect(edgeTrace).not.toBe(traceId);
    const edge = await spansOf(edgeTrace, (s) => s.some((x) => x.service === "mcp-gateway" && x.kind === 2));
    expect(edge.some((x) => x.service === "mcp-gateway" && x.parentSpanId === "")).toBe(true);
  });

  it("2026-07-28, a body cut short before its Content-Length (the client half-closes): a 4xx naming the problem, never a 500", async () => {
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 9,
      method: "tools/call",
      params: { name: "echo", arguments: { message: "cut" }, _meta: modernMeta(`00-${hex(16)}-${hex(8)}-01`) },
    });
    const u = new URL(t.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(u.port), u.hostname, () => {
        sock.write(
          [
            `POST /mcp/modern HTTP/1.1`,
            `host: ${u.host}`,
            `authorization: Bearer ${userKey}`,
            "content-type: application/json",
            "accept: application/json, text/event-stream",
            "mcp-protocol-version: 2026-07-28",
            "mcp-method: tools/call",
            "mcp-name: echo",
            `content-length: ${body.length + 100}`,
            "",
            body,
          ].join("\r\n"),
        );
        sock.end();
      });
      let got = "";
      sock.on("data", (d) => (got += d));
      sock.on("end", () => resolve(got));
      sock.on("error", reject);
      setTimeout(() => resolve(got), 10_000);
    });
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
    expect(status, answer).toBeGreaterThanOrEqual(400);
    expect(status, answer).toBeLessThan(500);
    expect(answer).toMatch(/Content-Length|content-length|body/);
  });

  it("the client's traceparent header wins over different `_meta` trace keys; a malformed `_meta` traceparent is ignored", async () => {
    const headerTrace = hex(16);
    const metaTrace = hex(16);
    modernProxy.seen.length = 0;
    await modernCall(5, modernMeta(`00-${metaTrace}-${hex(8)}-01`), { traceparent: `00-${headerTrace}-${hex(8)}-01` });
    const call = modernProxy.seen.find((s) => s.body.includes('"tools/call"'))!;
    expect(call.traceparent!.split("-")[1]).toBe(headerTrace);
    expect(JSON.parse(call.body).params._meta.traceparent).toBe(call.traceparent);
    modernProxy.seen.length = 0;
    const bad = await modernCall(6, modernMeta("00-not-a-trace-01"));
    expect(JSON.stringify(bad.body.result)).toContain("meta-traced");
    const badCall = modernProxy.seen.find((s) => s.body.includes('"tools/call"'))!;
    expect(badCall.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(JSON.parse(badCall.body).params._meta.traceparent).toBe(badCall.traceparent);
  });

  it("starts a trace when the client sends none, and ignores a malformed traceparent", async () => {
    const before = new Set(otlp.spans.map((s) => s.traceId));
    const res = await t.fetch("/mcp", {
      method: "POST",
      key: userKey,
      headers: {
        traceparent: "00-zz-not-a-trace-01",
        accept: "application/json, text/event-stream",
        "content-type": "application/json",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
      }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const deadline = Date.now() + 10_000;
    let fresh: ReceivedSpan[] = [];
    while (Date.now() < deadline) {
      fresh = otlp.spans.filter(
        (s) =>
          !before.has(s.traceId) &&
          s.service === "mcp-gateway" &&
          s.parentSpanId === "" &&
          s.attributes["http.route"] !== "/metrics",
      );
      if (fresh.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh[0]!.traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe("metrics", () => {
  const scrape = (init: RequestInit & { key?: string } = {}) => t.fetch("/metrics", init);
  const value = (text: string, name: string, labels: Record<string, string>) => {
    const lines = text
      .split("\n")
      .filter((l) => l.startsWith(name + "{") && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
    return lines.reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
  };

  it("is never public: 401 without credentials, 403 for a non-admin, 200 for METRICS_TOKEN and an admin's key", async () => {
    const anon = await scrape();
    expect(anon.status).toBe(401);
    expect(await anon.json()).toMatchObject({ error: "unauthenticated" });
    const wrong = await scrape({ headers: { authorization: `Bearer ${METRICS_TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const user = await scrape({ key: userKey });
    expect(user.status).toBe(403);
    expect(await user.json()).toMatchObject({ error: "forbidden" });
    const token = await scrape({ headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(token.status).toBe(200);
    expect(token.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    const admin = await scrape({ key: t.adminKey });
    expect(admin.status).toBe(200);
    // a worker's own /metrics (its container port) wants the token or a service assertion
    expect((await t.internal("/metrics")).status).toBe(401);
    const own = await t.internal("/metrics", { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(own.status).toBe(200);
    expect(await own.text()).toMatch(/worker="catalog"/);
  });

  it("each family moves with a real MCP load, from every worker, and no label carries personal data", async () => {
    const auth = { headers: { authorization: `Bearer ${METRICS_TOKEN}` } };
    const before = await (await scrape(auth)).text();
    const init = await rawInitialize(t.url, "/mcp", userKey);
    const N = 5;
    for (let i = 0; i < N; i++) {
      const r = await rawPost(
        t.url,
        "/mcp",
        userKey,
        {
          jsonrpc: "2.0",
          id: 10 + i,
          method: "tools/call",
          params: { name: "tools__echo", arguments: { message: `m${i}` } },
        },
        { "mcp-session-id": init.session!, accept: "application/json" },
      );
      expect(r.body.result).toBeTruthy();
    }
    await rawPost(
      t.url,
      "/mcp",
      userKey,
      { jsonrpc: "2.0", id: 99, method: "tools/call", params: { name: "tools__no-such-tool", arguments: {} } },
      { "mcp-session-id": init.session!, accept: "application/json" },
    );
    await rawPost(
      t.url,
      "/mcp",
      userKey,
      { jsonrpc: "2.0", id: 98, method: "tools/list" },
      { "mcp-session-id": init.session!, accept: "application/json" },
    );
    expect((await t.fetch("/mcp", { method: "POST", key: "mcpgw_not_a_real_key_0000000000", json: {} })).status).toBe(
      401,
    );
    const after = await (await scrape(auth)).text();

    const delta = (name: string, labels: Record<string, string>) =>
      value(after, name, labels) - value(before, name, labels);
    expect(delta("mcpgw_tool_calls_total", { worker: "mcp", server: "tools", tool: "echo", outcome: "ok" })).toBe(N);
    expect(delta("mcpgw_tool_calls_total", { worker: "mcp", server: "-", tool: "-", outcome: "denied" })).toBe(1);
    expect(delta("mcpgw_tool_call_duration_seconds_count", { worker: "mcp", server: "tools", tool: "echo" })).toBe(N);
    expect(
      delta("mcpgw_mcp_requests_total", {
        worker: "mcp",
        method: "tools/call",
        endpoint: "all",
        era: "legacy",
        outcome: "ok",
      }),
    ).toBe(N);
    expect(delta("mcpgw_mcp_requests_total", { worker: "mcp", method: "tools/list", outcome: "ok" })).toBe(1);
    expect(
      delta("mcpgw_upstream_requests_total", { worker: "mcp", server: "tools", outcome: "ok" }),
    ).toBeGreaterThanOrEqual(N);
    expect(
      delta("mcpgw_upstream_request_duration_seconds_count", { worker: "mcp", server: "tools" }),
    ).toBeGreaterThanOrEqual(N);
    expect(delta("mcpgw_mcp_sessions_total", { worker: "mcp", event: "opened" })).toBe(1);
    expect(
      delta("mcpgw_auth_outcomes_total", { worker: "auth", credential: "apikey", outcome: "ok" }),
    ).toBeGreaterThanOrEqual(N + 3);
    expect(delta("mcpgw_auth_outcomes_total", { worker: "auth", outcome: "invalid" })).toBeGreaterThanOrEqual(1);
    expect(delta("mcpgw_cache_requests_total", { worker: "auth", cache: "identity" })).toBeGreaterThanOrEqual(N);
    expect(delta("mcpgw_cache_requests_total", { worker: "mcp", cache: "catalog" })).toBeGreaterThanOrEqual(N);
    expect(
      delta("mcpgw_http_requests_total", { worker: "edge", route: "/*", method: "POST", status: "2xx" }),
    ).toBeGreaterThanOrEqual(N + 2);
    expect(delta("mcpgw_http_requests_total", { worker: "catalog" })).toBeGreaterThan(0);
    // the Postgres pools: operations timed, PG_POOL_MAX reported (nothing waits at this load)
    expect(delta("mcpgw_pg_query_duration_seconds_count", {})).toBeGreaterThan(0);
    expect(value(after, "mcpgw_pg_pool_connections", { state: "max" })).toBeGreaterThan(0);
    for (const w of ["edge", "auth", "catalog", "mcp", "admin"])
      expect(value(after, "mcpgw_worker_up", { worker: w }), w).toBe(1);

    // bounded labels: no e-mail, key, session id or raw path in any series
    const series = after.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(series.length).toBeGreaterThan(20);
    for (const line of series) {
      expect(line).not.toMatch(/carol|example\.test|mcpgw_not_a_real|no-such-tool/);
      expect(line).not.toContain(init.session!);
      expect(line).not.toContain(userKey);
    }
    // one HELP/TYPE block per family (the workers' series merged)
    const types = after.split("\n").filter((l) => l.startsWith("# TYPE "));
    expect(new Set(types).size).toBe(types.length);
  });

  it("answers OpenMetrics when asked", async () => {
    const res = await scrape({
      headers: { authorization: `Bearer ${METRICS_TOKEN}`, accept: "application/openmetrics-text; version=1.0.0" },
    });
    expect(res.headers.get("content-type")).toContain("application/openmetrics-text");
    const text = await res.text();
    expect(text.trimEnd().endsWith("# EOF")).toBe(true);
    expect(text).toMatch(/^# TYPE mcpgw_tool_calls counter$/m);
    expect(text).toMatch(/^mcpgw_tool_calls_total\{/m);
  });
});
