/**
 * Observability of one worker: {@link observe} traces and counts every request, and
 * {@link metricsRoute} serves the worker's figures at `GET /metrics`.
 *
 * `observe(worker)` continues the request's W3C `traceparent` (or starts a trace) with a SERVER
 * span named after the worker, makes it the current span for everything the request does
 * (shared/observe/trace.ts), counts the request in mcpgw_http_requests_total and its time to
 * the response headers in mcpgw_http_request_duration_seconds (by Hono's route pattern, never
 * the raw path), and hands the export of the ended spans to `waitUntil` (batched: at most one
 * export per OTEL_BSP_SCHEDULE_DELAY, shared/observe/trace.ts scheduleExport), so no response
 * waits for the collector. A streamed answer's span ends with its headers.
 *
 * `GET /metrics` on a worker answers only (401 JSON otherwise):
 * - another worker's service assertion (the edge gathering the figures of every worker): the
 *   JSON snapshot;
 * - `Authorization: Bearer <METRICS_TOKEN>`: this worker's figures as Prometheus text (or
 *   OpenMetrics when the Accept header asks for it) - Prometheus scraping a container directly.
 * The public `/metrics` is the edge's (workers/edge/src/metrics.ts), which also takes an admin's
 * credential. A worker's own `/metrics` is not routed by the edge or Traefik.
 */
import type { Context, MiddlewareHandler } from "hono";
import { timingSafeEqual } from "../../crypto";
import { httpDuration, httpRequests } from "../../observe/families";
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, render, snapshot } from "../../observe/metrics";
import {
  parseTraceparent,
  scheduleExport,
  setExporting,
  startSpan,
  withSpan,
  type ExportConfig,
} from "../../observe/trace";
import { SERVICE_ASSERTION_HEADER, serviceId, verifyServiceAssertion, type ServiceName } from "../../service-auth";
import { OBSERVE_VARS } from "../../env";
import { z } from "zod";

const ObserveEnv = z.object({ ...OBSERVE_VARS, SERVICE_SECRET: z.string().optional() });
type ObserveEnv = z.infer<typeof ObserveEnv>;

const parsedEnvs = new WeakMap<object, ObserveEnv>();

/**
 * The worker's observability settings, memoised per env object. Not through readEnv: its memo is
 * keyed by the env object alone, so a second schema read on the same env would get the first's.
 * The worker's own Env schema (which spreads OBSERVE_VARS) has already refused bad values.
 */
export function observeEnv(env: unknown): ObserveEnv {
  const key = (env ?? {}) as object;
  let hit = parsedEnvs.get(key);
  if (!hit) {
    const present = Object.fromEntries(
      Object.entries(key as Record<string, unknown>).filter(([, v]) => v !== null && v !== ""),
    );
    const parsed = ObserveEnv.safeParse(present);
    hit = parsed.success
      ? parsed.data
      : { OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf", OTEL_BSP_SCHEDULE_DELAY: 1000 };
    parsedEnvs.set(key, hit);
  }
  return hit;
}

const parsedHeaders = new Map<string, Record<string, string>>();

/** OTEL_EXPORTER_OTLP_HEADERS (`k=v,k2=v2`, values percent-decoded) as a record. */
export function otlpHeaders(raw: string | undefined): Record<string, string> {
  if (!raw) return {};
  let hit = parsedHeaders.get(raw);
  if (!hit) {
    hit = {};
    for (const pair of raw.split(",")) {
      const i = pair.indexOf("=");
      if (i > 0) hit[pair.slice(0, i).trim()] = decodeURIComponent(pair.slice(i + 1).trim());
    }
    parsedHeaders.set(raw, hit);
  }
  return hit;
}

/** Where this worker's spans go, or null (no OTEL_EXPORTER_OTLP_ENDPOINT). */
export function exportConfig(env: unknown): ExportConfig | null {
  const e = observeEnv(env);
  if (!e.OTEL_EXPORTER_OTLP_ENDPOINT) return null;
  return {
    endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    protocol: e.OTEL_EXPORTER_OTLP_PROTOCOL,
    headers: otlpHeaders(e.OTEL_EXPORTER_OTLP_HEADERS),
    delayMs: e.OTEL_BSP_SCHEDULE_DELAY,
  };
}

const statusClass = (s: number) => `${Math.floor(s / 100)}xx`;

/** Traces and counts each request of `worker` (see the module header). */
export function observe(worker: ServiceName): MiddlewareHandler {
  const service = serviceId(worker);
  return async function observeMiddleware(c, next) {
    const started = performance.now();
    const cfg = exportConfig(c.env);
    setExporting(cfg !== null);
    const parent = parseTraceparent(c.req.header("traceparent"), c.req.header("tracestate"));
    const span = startSpan(service, `${c.req.method} ${worker}`, "server", parent);
    span.set("http.request.method", c.req.method);
    try {
      await withSpan(span, () => next());
    } finally {
      const status = c.res?.status ?? 500;
      const route = c.req.routePath || "unmatched";
      span.name = `${c.req.method} ${route}`;
      span.set("http.route", route).set("http.response.status_code", status);
      if (status >= 500) span.error(`HTTP ${status}`);
      span.end();
      httpRequests.inc({ route, method: c.req.method, status: statusClass(status) });
      httpDuration.observe({ route }, (performance.now() - started) / 1000);
      const sending = cfg ? scheduleExport(cfg, cfg.delayMs ?? 1000) : null;
      if (sending) waitUntil(c, sending);
    }
  };
}

function waitUntil(c: Context, p: Promise<unknown>): void {
  try {
    c.executionCtx.waitUntil(p);
  } catch {
    void p; // no execution context (app.request in a unit test): let it run
  }
}

/** Whether the request asks for OpenMetrics. */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return !!accept && accept.includes("application/openmetrics-text");
}

/** Whether `header` is `Bearer <METRICS_TOKEN>` (constant time). */
export function isMetricsToken(header: string | undefined, token: string | undefined): boolean {
  if (!token || !header) return false;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return !!m && timingSafeEqual(m[1]!, token);
}

/** `GET /metrics` of a worker (see the module header). */
export function metricsRoute(
  worker: ServiceName,
  callers: readonly ServiceName[] = ["edge"],
): (c: Context) => Promise<Response> {
  return async function metricsHandler(c) {
    const env = observeEnv(c.env);
    const assertion = c.req.header(SERVICE_ASSERTION_HEADER);
    if (
      assertion &&
      env.SERVICE_SECRET &&
      (await verifyServiceAssertion(assertion, env.SERVICE_SECRET, worker, callers))
    ) {
      return c.json({ worker, families: snapshot() });
    }
    if (isMetricsToken(c.req.header("authorization"), env.METRICS_TOKEN)) {
      const om = wantsOpenMetrics(c.req.header("accept"));
      return c.body(render([{ worker, families: snapshot() }], om), 200, {
        "content-type": om ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE,
        "cache-control": "no-store",
      });
    }
    return c.json(
      { error: "unauthenticated", message: "metrics: Authorization: Bearer <METRICS_TOKEN> required" },
      401,
    );
  };
}
