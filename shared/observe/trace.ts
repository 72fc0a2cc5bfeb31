/**
 * W3C Trace Context and spans, exported over OTLP/HTTP (protobuf or JSON) after the response.
 *
 * - A worker's request span continues the `traceparent` it receives (the client's at the edge,
 *   the previous hop's behind it) or starts a trace; {@link traceHeaders} gives the headers the
 *   next hop gets, naming the current span as parent. The current span is kept in an
 *   AsyncLocalStorage (node:async_hooks, present in workerd with `nodejs_compat`), so code deep in
 *   a request (an upstream call, a catalog call) finds it without threading it through.
 * - Ended spans wait in isolate memory (at most {@link MAX_BUFFERED} - more are dropped and
 *   counted) and go out in one POST to `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces` from the
 *   request's `waitUntil`, so the response never waits for the collector.
 * - No endpoint configured: spans are still made (the trace id is in every log line and goes
 *   upstream) but nothing is buffered or sent.
 *
 * Why not the OpenTelemetry JS SDK: its tracer provider, context manager and exporters assume a
 * long-lived Node process (timers that flush in the background, `process` hooks, a global
 * context manager), which a workerd isolate does not give - background work must be handed to
 * `waitUntil` of a request. @microlabs/otel-cf-workers adapts it to Workers but patches the
 * global `fetch` and every binding and exports OTLP/JSON only. The wire format is small and
 * stable, so it is written here (protobuf by hand, checked in the tests against protobufjs with
 * the OTLP .proto definitions).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { spansDropped } from "./families";

export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;
export type SpanKind = keyof typeof SPAN_KIND;
export type AttrValue = string | number | boolean;

/** Ended spans kept for export before new ones are dropped. Default 2048. */
export const MAX_BUFFERED = 2048;

export interface SpanContext {
  traceId: string;
  spanId: string;
  /** trace-flags bit 0 */
  sampled: boolean;
  tracestate?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Set by the edge on the request it forwards when it started the trace itself (the client sent
 * no valid `traceparent`): the `traceparent` the next hop gets is then the gateway's own, and a
 * trace context in the message (a 2026-07-28 client's `_meta` trace keys) may take its place.
 */
export const GATEWAY_ROOT_HEADER = "x-mcpgw-trace-root";

/** Parses a `traceparent` header (version 00, or a later one read as 00); null when invalid. */
export function parseTraceparent(value: string | null | undefined, tracestate?: string | null): SpanContext | null {
  if (!value) return null;
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === "ff" || (version === "00" && rest) || /^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return null;
  const state = tracestate?.trim();
  return {
    traceId: traceId!,
    spanId: spanId!,
    sampled: (parseInt(flags!, 16) & 1) === 1,
    ...(state && state.length <= 512 ? { tracestate: state } : {}),
  };
}

export function formatTraceparent(c: SpanContext): string {
  return `00-${c.traceId}-${c.spanId}-${c.sampled ? "01" : "00"}`;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
/** Random bytes drawn 4 KiB at a time: one getRandomValues call per ~170 spans, not two per span. */
const pool = new Uint8Array(4096);
let poolAt = pool.length;

function randomHex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
  }
  let s = "";
  for (let i = 0; i < bytes; i++) s += HEX[pool[poolAt++]!];
  // all-zero ids are invalid (W3C): astronomically unlikely, but never emit one
  return /^0+$/.test(s) ? randomHex(bytes) : s;
}

export interface EndedSpan {
  service: string;
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  tracestate?: string;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, AttrValue>;
  /** 0 unset, 1 ok, 2 error */
  status: 0 | 1 | 2;
  statusMessage?: string;
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

export class Span {
  /** Changed only by {@link Span.continueFrom}. */
  context: SpanContext;
  readonly attributes: Record<string, AttrValue> = {};
  private readonly startNs = nowNs();
  private status: 0 | 1 | 2 = 0;
  private statusMessage?: string;
  private ended = false;

  constructor(
    readonly service: string,
    public name: string,
    readonly kind: SpanKind,
    public parent: SpanContext | null,
    private readonly sink: ((s: EndedSpan) => void) | null,
  ) {
    this.context = {
      traceId: parent?.traceId ?? randomHex(16),
      spanId: randomHex(8),
      sampled: parent ? parent.sampled : true,
      ...(parent?.tracestate ? { tracestate: parent.tracestate } : {}),
    };
  }

  /**
   * Moves this span (its id kept) under `parent`, a trace context that arrived after the span
   * began: a 2026-07-28 client's `_meta` trace keys, read once the body is parsed. Only before
   * the span has children (their parent is the old context) and before it ends.
   */
  continueFrom(parent: SpanContext): this {
    if (this.ended) return this;
    this.parent = parent;
    this.context = {
      traceId: parent.traceId,
      spanId: this.context.spanId,
      sampled: parent.sampled,
      ...(parent.tracestate ? { tracestate: parent.tracestate } : {}),
    };
    return this;
  }

  set(key: string, value: AttrValue | undefined | null): this {
    if (value !== undefined && value !== null) this.attributes[key] = value;
    return this;
  }

  error(message: string): this {
    this.status = 2;
    this.statusMessage = message.slice(0, 200);
    return this;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.sink || !this.context.sampled) return;
    this.sink({
      service: this.service,
      name: this.name,
      kind: this.kind,
      traceId: this.context.traceId,
      spanId: this.context.spanId,
      ...(this.parent ? { parentSpanId: this.parent.spanId } : {}),
      ...(this.context.tracestate ? { tracestate: this.context.tracestate } : {}),
      startNs: this.startNs,
      endNs: nowNs(),
      attributes: this.attributes,
      status: this.status,
      ...(this.statusMessage ? { statusMessage: this.statusMessage } : {}),
    });
  }
}

const current = new AsyncLocalStorage<Span>();
let buffer: EndedSpan[] = [];
/** Whether ended spans are buffered (an OTLP endpoint is configured in this isolate). */
let exporting = false;

function sink(s: EndedSpan): void {
  if (!exporting) return;
  if (buffer.length >= MAX_BUFFERED) {
    spansDropped.inc({ reason: "buffer_full" });
    return;
  }
  buffer.push(s);
}

/** Starts a span, child of `parent` (default: the current span, if any). End it with `span.end()`. */
export function startSpan(
  service: string,
  name: string,
  kind: SpanKind,
  parent: SpanContext | null | undefined = current.getStore()?.context,
): Span {
  return new Span(service, name, kind, parent ?? null, sink);
}

/** Runs `fn` with `span` as the current span. */
export function withSpan<T>(span: Span, fn: () => T): T {
  return current.run(span, fn);
}

/** The current span, if a request is being traced. */
export function currentSpan(): Span | undefined {
  return current.getStore();
}

/** `traceparent` (and `tracestate`) naming the current span (or `span`) as parent; empty outside a trace. */
export function traceHeaders(span: Span | undefined = current.getStore()): Record<string, string> {
  if (!span) return {};
  return {
    traceparent: formatTraceparent(span.context),
    ...(span.context.tracestate ? { tracestate: span.context.tracestate } : {}),
  };
}

/** The current trace id (for log lines), or undefined. */
export function currentTraceId(): string | undefined {
  return current.getStore()?.context.traceId;
}

export interface ExportConfig {
  /** OTEL_BSP_SCHEDULE_DELAY: longest wait before buffered spans are sent (ms) */
  delayMs?: number;
  /** OTEL_EXPORTER_OTLP_ENDPOINT (base URL; `/v1/traces` is appended) */
  endpoint: string;
  protocol: "http/protobuf" | "http/json";
  /** OTEL_EXPORTER_OTLP_HEADERS, parsed */
  headers?: Record<string, string>;
}

/** Turns span buffering on or off for this isolate (the observe middleware does, from the env). */
export function setExporting(on: boolean): void {
  exporting = on;
  if (!on) buffer = [];
}

/** Takes the buffered spans (tests, and {@link flushSpans}). */
export function takeSpans(): EndedSpan[] {
  const out = buffer;
  buffer = [];
  return out;
}

/** Largest batch: a request that fills it sends at once instead of waiting for the delay. */
export const MAX_EXPORT_BATCH = 512;
let scheduled = false;

/**
 * Called at the end of each traced request: returns the export to hand to that request's
 * `waitUntil`, or null when one is already on its way. The first request that leaves spans in an
 * empty schedule waits `delayMs` (OTEL_BSP_SCHEDULE_DELAY) and then sends everything buffered
 * meanwhile in one request, so a busy isolate sends about one export per delay, not one per
 * request; a full batch ({@link MAX_EXPORT_BATCH}) goes at once. Nothing is stranded: the wait
 * runs inside a request's `waitUntil`.
 */
export function scheduleExport(
  cfg: ExportConfig,
  delayMs: number,
  fetcher: typeof fetch = fetch,
): Promise<void> | null {
  if (!buffer.length) return null;
  if (buffer.length >= MAX_EXPORT_BATCH || delayMs <= 0) return flushSpans(cfg, fetcher);
  if (scheduled) return null;
  scheduled = true;
  return new Promise<void>((r) => setTimeout(r, delayMs)).then(() => {
    scheduled = false;
    return flushSpans(cfg, fetcher);
  });
}

/**
 * Sends the buffered spans in one OTLP/HTTP request. Never throws: a collector that is down
 * costs the spans (counted in mcpgw_trace_spans_dropped_total), not the request.
 */
export async function flushSpans(cfg: ExportConfig, fetcher: typeof fetch = fetch): Promise<void> {
  const spans = takeSpans();
  if (!spans.length) return;
  const json = cfg.protocol === "http/json";
  try {
    const res = await fetcher(new URL("v1/traces", cfg.endpoint.endsWith("/") ? cfg.endpoint : cfg.endpoint + "/"), {
      method: "POST",
      headers: { ...cfg.headers, "content-type": json ? "application/json" : "application/x-protobuf" },
      body: json ? JSON.stringify(otlpJson(spans)) : otlpProtobuf(spans),
    });
    await res.body?.cancel();
    if (!res.ok) spansDropped.inc({ reason: "collector_refused" }, spans.length);
  } catch {
    spansDropped.inc({ reason: "collector_unreachable" }, spans.length);
  }
}

const SCOPE = { name: "mcp-gateway", version: "0.1.0" };

function groupByService(spans: EndedSpan[]): Map<string, EndedSpan[]> {
  const by = new Map<string, EndedSpan[]>();
  for (const s of spans) {
    const list = by.get(s.service) ?? [];
    list.push(s);
    by.set(s.service, list);
  }
  return by;
}

function jsonValue(v: AttrValue) {
  return typeof v === "string"
    ? { stringValue: v }
    : typeof v === "boolean"
      ? { boolValue: v }
      : Number.isSafeInteger(v)
        ? { intValue: String(v) }
        : { doubleValue: v };
}

/**
 * ExportTraceServiceRequest in OTLP/JSON. Trace and span ids as hex (the OTLP/JSON rule), times
 * as decimal strings.
 */
export function otlpJson(spans: EndedSpan[]) {
  return {
    resourceSpans: [...groupByService(spans)].map(([service, list]) => ({
      resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
      scopeSpans: [
        {
          scope: SCOPE,
          spans: list.map((s) => ({
            traceId: s.traceId,
            spanId: s.spanId,
            ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
            ...(s.tracestate ? { traceState: s.tracestate } : {}),
            name: s.name,
            kind: SPAN_KIND[s.kind],
            startTimeUnixNano: String(s.startNs),
            endTimeUnixNano: String(s.endNs),
            attributes: Object.entries(s.attributes).map(([key, v]) => ({ key, value: jsonValue(v) })),
            status: { code: s.status, ...(s.statusMessage ? { message: s.statusMessage } : {}) },
          })),
        },
      ],
    })),
  };
}

// --- protobuf (opentelemetry/proto/collector/trace/v1/trace_service.proto and its imports) ---

const utf8 = new TextEncoder();
/** Names, keys and attribute values repeat from span to span: encoded once (bounded). */
const encoded = new Map<string, Uint8Array>();

/** A protobuf writer over one growing buffer (varints as numbers; 64-bit fixed fields as BigInt). */
class Writer {
  private buf = new Uint8Array(64);
  private len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  varint(v: number): this {
    this.ensure(10);
    if (v < 0) {
      // negative int64: ten bytes, two's complement
      let n = BigInt.asUintN(64, BigInt(v));
      while (n > 0x7fn) {
        this.buf[this.len++] = Number(n & 0x7fn) | 0x80;
        n >>= 7n;
      }
      this.buf[this.len++] = Number(n);
      return this;
    }
    while (v > 0x7f) {
      this.buf[this.len++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  string(field: number, s: string): this {
    let b = encoded.get(s);
    if (!b) {
      b = utf8.encode(s);
      if (encoded.size < 1024 && s.length <= 128) encoded.set(s, b);
    }
    return this.bytes(field, b);
  }
  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }
  fixed64(field: number, v: bigint): this {
    this.tag(field, 1).ensure(8);
    new DataView(this.buf.buffer, this.len, 8).setBigUint64(0, v, true);
    this.len += 8;
    return this;
  }
  double(field: number, v: number): this {
    this.tag(field, 1).ensure(8);
    new DataView(this.buf.buffer, this.len, 8).setFloat64(0, v, true);
    this.len += 8;
    return this;
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function keyValue(key: string, v: AttrValue): Writer {
  const any = new Writer();
  if (typeof v === "string") any.string(1, v);
  else if (typeof v === "boolean") any.tag(2, 0).varint(v ? 1 : 0);
  else if (Number.isSafeInteger(v)) any.tag(3, 0).varint(v);
  else any.double(4, v);
  return new Writer().string(1, key).message(2, any);
}

/** ExportTraceServiceRequest in OTLP protobuf. */
export function otlpProtobuf(spans: EndedSpan[]): Uint8Array {
  const req = new Writer();
  for (const [service, list] of groupByService(spans)) {
    const rs = new Writer().message(1, new Writer().message(1, keyValue("service.name", service)));
    const ss = new Writer().message(1, new Writer().string(1, SCOPE.name).string(2, SCOPE.version));
    for (const s of list) {
      const w = new Writer().bytes(1, hexBytes(s.traceId)).bytes(2, hexBytes(s.spanId));
      if (s.tracestate) w.string(3, s.tracestate);
      if (s.parentSpanId) w.bytes(4, hexBytes(s.parentSpanId));
      w.string(5, s.name).tag(6, 0).varint(SPAN_KIND[s.kind]).fixed64(7, s.startNs).fixed64(8, s.endNs);
      for (const [k, v] of Object.entries(s.attributes)) w.message(9, keyValue(k, v));
      const status = new Writer();
      if (s.statusMessage) status.string(2, s.statusMessage);
      if (s.status) status.tag(3, 0).varint(s.status);
      w.message(15, status);
      ss.message(2, w);
    }
    rs.message(2, ss);
    req.message(1, rs);
  }
  return req.finish();
}
