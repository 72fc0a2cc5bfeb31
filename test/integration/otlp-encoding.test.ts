/**
 * The gateway's OTLP encoders (shared/observe/trace.ts) against the test's receiver, which
 * decodes protobuf with protobufjs and the OTLP .proto definitions: both protocols carry the same
 * spans, ids, times, attributes of every type and status. (The workerd path is in observe.test.ts.)
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { flushSpans, setExporting, startSpan, withSpan } from "../../shared/observe/trace";
import { startOtlpReceiver, type OtlpReceiver } from "../harness/otlp-receiver";

let otlp: OtlpReceiver;
beforeAll(async () => (otlp = await startOtlpReceiver()));
afterAll(() => otlp?.close());

it("http/protobuf and http/json deliver the same spans to a collector", async () => {
  setExporting(true);
  const make = (service: string) => {
    const root = startSpan(service, "GET /mcp", "server", {
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      sampled: true,
      tracestate: "k=v",
    });
    withSpan(root, () =>
      startSpan(service, "upstream POST", "client")
        .set("mcp.server", "tools")
        .set("http.response.status_code", 200)
        .set("ratio", 0.25)
        .set("cached", false)
        .error("HTTP 502")
        .end(),
    );
    root.set("mcp.method", "tools/call").end();
  };
  make("svc-pb");
  await flushSpans({ endpoint: otlp.url, protocol: "http/protobuf" });
  make("svc-json");
  await flushSpans({ endpoint: `${otlp.url}/`, protocol: "http/json" });
  setExporting(false);
  expect(otlp.requests.map((r) => r.contentType)).toEqual(["application/x-protobuf", "application/json"]);
  const strip = (service: string) =>
    otlp.spans
      .filter((s) => s.service === service)
      .map(({ service: _s, via: _v, spanId: _i, parentSpanId, start, end, ...rest }) => ({
        ...rest,
        hasParent: parentSpanId !== "",
        ordered: end >= start && start > 1_600_000_000_000_000_000n,
      }));
  const pb = strip("svc-pb");
  expect(pb).toEqual(strip("svc-json"));
  expect(pb).toEqual([
    {
      name: "upstream POST",
      kind: 3,
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      attributes: { "mcp.server": "tools", "http.response.status_code": 200, ratio: 0.25, cached: false },
      status: 2,
      hasParent: true,
      ordered: true,
    },
    {
      name: "GET /mcp",
      kind: 2,
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      attributes: { "mcp.method": "tools/call" },
      status: 0,
      hasParent: true,
      ordered: true,
    },
  ]);
  const root = otlp.spans.find((s) => s.service === "svc-pb" && s.kind === 2)!;
  expect(root.parentSpanId).toBe("00f067aa0ba902b7");
  expect(otlp.spans.find((s) => s.service === "svc-pb" && s.kind === 3)!.parentSpanId).toBe(root.spanId);
});
