/**
 * A collector-compatible OTLP/HTTP trace receiver for the tests: `POST /v1/traces` in protobuf
 * (decoded with protobufjs from the OTLP .proto definitions below, copied from
 * open-telemetry/opentelemetry-proto v1: the fields the gateway sends) or JSON, answering as a
 * collector does (200, an empty ExportTraceServiceResponse). Not the gateway's own encoder: a
 * wrong field number or wire type fails here.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import protobuf from "protobufjs";

const PROTO = `
syntax = "proto3";
package opentelemetry.proto;
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5; int32 kind = 6;
  fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; Status status = 15; fixed32 flags = 16;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
`;
const Request = protobuf
  .parse(PROTO, { keepCase: false })
  .root.lookupType("opentelemetry.proto.ExportTraceServiceRequest");

export interface ReceivedSpan {
  service: string;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  start: bigint;
  end: bigint;
  attributes: Record<string, string | number | boolean>;
  status: number;
  /** content type of the export request that carried it */
  via: string;
}

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  requests: { contentType: string; bytes: number }[];
  close(): Promise<void>;
}

const hex = (b: Uint8Array | string | undefined) =>
  typeof b === "string" ? b : b ? Buffer.from(b).toString("hex") : "";

function anyValue(v: any): string | number | boolean {
  if (!v) return "";
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  return "";
}

function collect(body: any, via: string, into: ReceivedSpan[]): void {
  for (const rs of body.resourceSpans ?? []) {
    const service = String(anyValue((rs.resource?.attributes ?? []).find((a: any) => a.key === "service.name")?.value));
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        into.push({
          service,
          name: s.name,
          kind: Number(s.kind ?? 0),
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          start: BigInt(String(s.startTimeUnixNano ?? 0)),
          end: BigInt(String(s.endTimeUnixNano ?? 0)),
          attributes: Object.fromEntries((s.attributes ?? []).map((a: any) => [a.key, anyValue(a.value)])),
          status: Number(s.status?.code ?? 0),
          via,
        });
      }
    }
  }
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: { contentType: string; bytes: number }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const buf = Buffer.concat(chunks);
      const type = String(req.headers["content-type"] ?? "");
      requests.push({ contentType: type, bytes: buf.length });
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      try {
        if (type.startsWith("application/x-protobuf")) {
          collect(Request.toObject(Request.decode(buf), { longs: String, defaults: false }), "protobuf", spans);
          res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
        } else if (type.startsWith("application/json")) {
          collect(JSON.parse(buf.toString("utf8")), "json", spans);
          res.writeHead(200, { "content-type": "application/json" }).end("{}");
        } else {
          res.writeHead(415).end();
        }
      } catch (err) {
        res.writeHead(400, { "content-type": "text/plain" }).end(String(err));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, spans, requests, close: () => new Promise((r) => server.close(() => r())) };
}
