// shared/observe inside workerd: the exposition formats, bounded labels, W3C trace context, the
// current span across awaits (AsyncLocalStorage under nodejs_compat), and the export buffer.
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { metricsRoute, observe, otlpHeaders } from "../../shared/middleware/observe";
import { counter, gauge, histogram, MAX_SERIES, render, snapshot } from "../../shared/observe/metrics";
import {
  currentSpan,
  flushSpans,
  scheduleExport,
  formatTraceparent,
  otlpJson,
  otlpProtobuf,
  parseTraceparent,
  setExporting,
  startSpan,
  takeSpans,
  traceHeaders,
  withSpan,
} from "../../shared/observe/trace";
import { signServiceAssertion } from "../../shared/service-auth";
import { continueMessageTrace, MAX_PEEK_BYTES } from "../../workers/edge/src/message-trace";

describe("metrics", () => {
  it("renders counters, gauges and histograms in the Prometheus text format, merged across workers", () => {
    const c = counter("unit_requests_total", "Requests\nseen", ["kind"] as const);
    const g = gauge("unit_in_use", "In use", ["state"] as const);
    const h = histogram("unit_latency_seconds", "Latency", ["op"] as const, [0.1, 1]);
    c.inc({ kind: 'a"b' });
    c.inc({ kind: 'a"b' }, 2);
    g.set({ state: "x" }, 3);
    h.observe({ op: "q" }, 0.05);
    h.observe({ op: "q" }, 0.5);
    h.observe({ op: "q" }, 5);
    const mine = snapshot().filter((f) => f.name.startsWith("unit_"));
    const text = render([
      { worker: "a", families: mine },
      { worker: "b", families: mine },
    ]);
    expect(text).toContain("# HELP unit_requests_total Requests\\nseen\n# TYPE unit_requests_total counter\n");
    expect(text).toContain('unit_requests_total{worker="a",kind="a\\"b"} 3\n');
    expect(text).toContain('unit_requests_total{worker="b",kind="a\\"b"} 3\n');
    expect(text.match(/# TYPE unit_requests_total/g)).toHaveLength(1);
    expect(text).toContain('unit_in_use{worker="a",state="x"} 3\n');
    expect(text).toContain('unit_latency_seconds_bucket{worker="a",op="q",le="0.1"} 1\n');
    expect(text).toContain('unit_latency_seconds_bucket{worker="a",op="q",le="1"} 2\n');
    expect(text).toContain('unit_latency_seconds_bucket{worker="a",op="q",le="+Inf"} 3\n');
    expect(text).toContain('unit_latency_seconds_count{worker="a",op="q"} 3\n');
    expect(text).toContain('unit_latency_seconds_sum{worker="a",op="q"} 5.55\n');
    const om = render([{ worker: "a", families: mine }], true);
    expect(om).toContain("# TYPE unit_requests counter\n");
    expect(om).toContain('unit_requests_total{worker="a",kind="a\\"b"} 3\n');
    expect(om.endsWith("# EOF\n")).toBe(true);
  });

  it("folds label sets past MAX_SERIES into `other`", () => {
    const c = counter("unit_bounded_total", "Bounded", ["id"] as const);
    for (let i = 0; i < MAX_SERIES + 50; i++) c.inc({ id: `v${i}` });
    const f = snapshot().find((x) => x.name === "unit_bounded_total")!;
    expect(f.series.length).toBe(MAX_SERIES + 1);
    expect(f.series.find((s) => s.labels.id === "other")!.value).toBe(50);
  });
});

describe("trace context", () => {
  it("parses and formats traceparent as W3C Trace Context says", () => {
    const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    expect(parseTraceparent(tp, "congo=t61rcWkgMzE")).toEqual({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      sampled: true,
      tracestate: "congo=t61rcWkgMzE",
    });
    expect(formatTraceparent(parseTraceparent(tp)!)).toBe(tp);
    expect(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")!.sampled).toBe(false);
    // a later version with more fields is read as 00
    expect(parseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what")).toBeTruthy();
    for (const bad of [
      "",
      "garbage",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    ]) {
      expect(parseTraceparent(bad), bad).toBeNull();
    }
  });

  it("keeps the current span across awaits and names it as the next hop's parent", async () => {
    setExporting(true);
    takeSpans();
    const root = startSpan("svc", "root", "server", null);
    await withSpan(root, async () => {
      await new Promise((r) => setTimeout(r, 1));
      expect(currentSpan()).toBe(root);
      const child = startSpan("svc", "child", "client");
      expect(child.context.traceId).toBe(root.context.traceId);
      expect(traceHeaders(child).traceparent).toBe(`00-${root.context.traceId}-${child.context.spanId}-01`);
      child.set("mcp.server", "s").end();
    });
    root.end();
    expect(currentSpan()).toBeUndefined();
    const spans = takeSpans();
    expect(spans.map((s) => s.name)).toEqual(["child", "root"]);
    expect(spans[0]!.parentSpanId).toBe(root.context.spanId);
    // an unsampled parent: spans made, not exported
    const off = startSpan(
      "svc",
      "off",
      "server",
      parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
    );
    off.end();
    expect(takeSpans()).toEqual([]);
    setExporting(false);
  });

  it("exports after the response in one OTLP/HTTP request, and a collector that is down costs only the spans", async () => {
    setExporting(true);
    const s = startSpan("mcp-gateway-mcp", "x", "server", null);
    s.set("n", 3).set("ok", true).set("f", 1.5).end();
    const pb = otlpProtobuf(takeSpans().concat());
    expect(pb.byteLength).toBeGreaterThan(40);
    startSpan("mcp-gateway-mcp", "y", "server", null).end();
    const sent: Request[] = [];
    await flushSpans(
      { endpoint: "http://collector:4318", protocol: "http/json", headers: { "x-key": "k" } },
      async (input, init) => (sent.push(new Request(input, init)), new Response("{}")),
    );
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe("http://collector:4318/v1/traces");
    expect(sent[0]!.headers.get("content-type")).toBe("application/json");
    expect(sent[0]!.headers.get("x-key")).toBe("k");
    const body = (await sent[0]!.json()) as ReturnType<typeof otlpJson>;
    expect(body.resourceSpans[0]!.resource.attributes[0]).toEqual({
      key: "service.name",
      value: { stringValue: "mcp-gateway-mcp" },
    });
    expect(body.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name).toBe("y");
    startSpan("svc", "z", "server", null).end();
    await expect(
      flushSpans({ endpoint: "http://collector:4318", protocol: "http/protobuf" }, async () =>
        Promise.reject(new Error("down")),
      ),
    ).resolves.toBeUndefined();
    expect(takeSpans()).toEqual([]);
    setExporting(false);
    expect(otlpHeaders("api-key=a%20b, x=1")).toEqual({ "api-key": "a b", x: "1" });
  });
});

describe("export batching", () => {
  it("one export per delay for many requests; a zero delay sends after every request", async () => {
    setExporting(true);
    takeSpans();
    const sent: number[] = [];
    const fetcher = (async (_i: RequestInfo | URL, init?: RequestInit) => (
      sent.push(JSON.parse(String(init!.body)).resourceSpans[0].scopeSpans[0].spans.length),
      new Response("{}")
    )) as typeof fetch;
    const cfg = { endpoint: "http://collector:4318", protocol: "http/json" as const };
    startSpan("svc", "a", "server", null).end();
    const first = scheduleExport(cfg, 30, fetcher);
    expect(first).toBeInstanceOf(Promise);
    startSpan("svc", "b", "server", null).end();
    expect(scheduleExport(cfg, 30, fetcher)).toBeNull();
    await first;
    expect(sent).toEqual([2]);
    expect(scheduleExport(cfg, 30, fetcher)).toBeNull(); // nothing buffered
    startSpan("svc", "c", "server", null).end();
    await scheduleExport(cfg, 0, fetcher);
    expect(sent).toEqual([2, 1]);
    setExporting(false);
  });
});

describe("observe middleware and a worker's /metrics", () => {
  const SECRET = "service-secret-for-the-unit-test-0123456789";
  const TOKEN = "metrics-token-for-the-unit-test-0123456789";
  const app = new Hono()
    .use("*", observe("catalog"))
    .get("/metrics", metricsRoute("catalog"))
    .get("/things/:id", (c) => c.json({ trace: traceHeaders().traceparent }));
  const env = { SERVICE_SECRET: SECRET, METRICS_TOKEN: TOKEN };

  it("continues the caller's trace and counts by route pattern, never the raw path", async () => {
    const res = await app.request(
      "/things/carol@example.test",
      { headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" } },
      env,
    );
    const { trace } = (await res.json()) as { trace: string };
    expect(trace).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    const text = await (await app.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } }, env)).text();
    expect(text).toContain(
      'mcpgw_http_requests_total{worker="catalog",route="/things/:id",method="GET",status="2xx"} 1',
    );
    expect(text).not.toContain("carol");
  });

  it("/metrics: 401 without the token or an allowed worker's assertion; JSON for the edge", async () => {
    expect((await app.request("/metrics", {}, env)).status).toBe(401);
    expect((await app.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}x` } }, env)).status).toBe(401);
    expect((await app.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } }, {})).status).toBe(401);
    expect(
      (
        await app.request(
          "/metrics",
          { headers: { "x-service-assertion": await signServiceAssertion(SECRET, "mcp", "catalog") } },
          env,
        )
      ).status,
    ).toBe(401);
    const edge = await app.request(
      "/metrics",
      { headers: { "x-service-assertion": await signServiceAssertion(SECRET, "edge", "catalog") } },
      env,
    );
    expect(edge.status).toBe(200);
    expect(((await edge.json()) as { worker: string }).worker).toBe("catalog");
  });
});

describe("the edge reading a 2026-07-28 message's `_meta` trace context (workers/edge/src/message-trace.ts)", () => {
  const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const message = (meta: Record<string, unknown>) =>
    JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: { traceparent: "not this one" }, _meta: meta },
    });
  const post = (body: string, headers: Record<string, string> = {}) =>
    new Request("http://gw/mcp/modern", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "mcp-protocol-version": "2026-07-28",
        "content-length": String(new TextEncoder().encode(body).length),
        ...headers,
      },
      body,
    });
  /** Runs continueMessageTrace under a fresh edge span (parent: `parent`); returns the span and the body forwarded (what it read, or the untouched request's). */
  async function run(req: Request, path = "/mcp/modern", parent: string | null = null) {
    const span = startSpan("mcp-gateway", "POST edge", "server", parseTraceparent(parent));
    const read = await withSpan(span, () => continueMessageTrace(req, path));
    if (read !== null) expect(req.bodyUsed).toBe(true);
    return { span, read, body: read === null ? await req.text() : new TextDecoder().decode(read) };
  }

  it("continues the message's trace, keeps the tracestate and forwards the body unchanged", async () => {
    const body = message({ traceparent: TP, tracestate: "vendor=abc" });
    const { span, read, body: forwarded } = await run(post(body));
    expect(read).not.toBeNull();
    expect(span.parent).toMatchObject({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" });
    expect(span.context.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(span.context.tracestate).toBe("vendor=abc");
    expect(span.attributes["mcpgw.trace_source"]).toBe("_meta");
    expect(forwarded).toBe(body);
  });

  it("leaves the span alone: a client's traceparent header, a session-era version, another path or method, no or a large declared length, a malformed or missing _meta trace, a batch", async () => {
    const body = message({ traceparent: TP });
    // [request, path, client traceparent header, whether the edge reads the body]
    const cases: [Request, string, string | null, boolean][] = [
      [post(body), "/mcp/modern", "00-11111111111111111111111111111111-2222222222222222-01", false],
      [post(body, { "mcp-protocol-version": "2025-06-18" }), "/mcp/modern", null, false],
      [post(body), "/admin/api/tenants", null, false],
      [
        new Request("http://gw/mcp/modern", {
          method: "PUT",
          headers: { "mcp-protocol-version": "2026-07-28", "content-length": "2" },
          body: "{}",
        }),
        "/mcp/modern",
        null,
        false,
      ],
      [post(body, { "content-length": String(64 * 1024 + 1) }), "/mcp/modern", null, false],
      [
        new Request("http://gw/mcp/modern", {
          method: "POST",
          headers: { "mcp-protocol-version": "2026-07-28" },
          body: new Blob([body]).stream(),
        }),
        "/mcp/modern",
        null,
        false,
      ],
      [post(message({ traceparent: "00-not-a-trace-01" })), "/mcp/modern", null, true],
      [post(message({})), "/mcp/modern", null, true],
      [post(JSON.stringify([JSON.parse(body)])), "/mcp/modern", null, true],
      [post("{not json"), "/mcp/modern", null, true],
    ];
    for (const [req, path, parent, reads] of cases) {
      const label = `${req.method} ${path} ${JSON.stringify(Object.fromEntries(req.headers))}`;
      const before = await req.clone().text();
      const { span, read, body: forwarded } = await run(req, path, parent);
      expect(read !== null, label).toBe(reads);
      expect(span.attributes["mcpgw.trace_source"], label).toBeUndefined();
      expect(span.context.traceId, label).not.toBe("4bf92f3577b34da6a3ce929d0e0e4736");
      expect(forwarded, label).toBe(before);
    }
    expect(MAX_PEEK_BYTES).toBe(64 * 1024);
  });
});
