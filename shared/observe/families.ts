/**
 * Every metric family the gateway exports, in one place (docs/deploy.md lists them, and the
 * dashboard test checks each query of compose/observability/grafana/dashboards/*.json against
 * {@link METRIC_NAMES}). Label values are bounded: worker names, route patterns, server ids and
 * tool names from the catalog, fixed words. Never a user's e-mail, id, key or session id.
 */
import { counter, gauge, histogram } from "./metrics";

/** Every HTTP request a worker answered, by its route pattern (Hono's, never the raw path). */
export const httpRequests = counter(
  "mcpgw_http_requests_total",
  "HTTP requests answered, by worker, route pattern, method and status class",
  ["route", "method", "status"] as const,
);
export const httpDuration = histogram(
  "mcpgw_http_request_duration_seconds",
  "Time to the response headers, by worker and route pattern",
  ["route"] as const,
);

/** MCP requests of the mcp worker. */
export const mcpRequests = counter(
  "mcpgw_mcp_requests_total",
  "MCP requests (JSON-RPC messages) by method, endpoint (all or server), protocol era and outcome",
  ["method", "endpoint", "era", "outcome"] as const,
);
export const toolCalls = counter(
  "mcpgw_tool_calls_total",
  "tools/call by server, tool and outcome (ok, tool_error, error)",
  ["server", "tool", "outcome"] as const,
);
export const toolDuration = histogram("mcpgw_tool_call_duration_seconds", "tools/call latency by server and tool", [
  "server",
  "tool",
] as const);
export const upstreamRequests = counter(
  "mcpgw_upstream_requests_total",
  "HTTP exchanges with upstream MCP servers by server and outcome (ok, http_error, timeout, network_error)",
  ["server", "outcome"] as const,
);
export const upstreamDuration = histogram(
  "mcpgw_upstream_request_duration_seconds",
  "Time to an upstream's response headers, by server",
  ["server"] as const,
);
export const sessions = counter("mcpgw_mcp_sessions_total", "Session-era MCP sessions opened and ended", [
  "event",
] as const);

/** Caches: catalog (mcp worker), identity (auth worker), snapshot (catalog worker). */
export const cacheRequests = counter(
  "mcpgw_cache_requests_total",
  "Cache look-ups by cache and result (hit, miss, not_modified)",
  ["cache", "result"] as const,
);

/** Postgres pool (shared/pool) and query latency. */
export const poolConnections = gauge(
  "mcpgw_pg_pool_connections",
  "Postgres pool of the worker: connections in use, operations waiting for one, and PG_POOL_MAX (state in_use, waiting, max)",
  ["state"] as const,
);
export const queryDuration = histogram(
  "mcpgw_pg_query_duration_seconds",
  "Postgres pool operation latency by operation",
  ["op"] as const,
);

export const rateLimited = counter(
  "mcpgw_rate_limit_refusals_total",
  "Requests refused by the per-user rate limit or the concurrency limit",
  ["limit"] as const,
);
export const authOutcomes = counter(
  "mcpgw_auth_outcomes_total",
  "forwardAuth decisions by credential type and outcome",
  ["credential", "outcome"] as const,
);

/** Spans dropped because the export buffer was full or the collector refused them. */
export const spansDropped = counter(
  "mcpgw_trace_spans_dropped_total",
  "Spans not exported (buffer full, collector error)",
  ["reason"] as const,
);

/** Every exported metric name, with the series suffixes Prometheus adds to histograms. */
export const METRIC_NAMES: readonly string[] = (() => {
  const base = [
    ["mcpgw_http_requests_total", "counter"],
    ["mcpgw_http_request_duration_seconds", "histogram"],
    ["mcpgw_mcp_requests_total", "counter"],
    ["mcpgw_tool_calls_total", "counter"],
    ["mcpgw_tool_call_duration_seconds", "histogram"],
    ["mcpgw_upstream_requests_total", "counter"],
    ["mcpgw_upstream_request_duration_seconds", "histogram"],
    ["mcpgw_mcp_sessions_total", "counter"],
    ["mcpgw_cache_requests_total", "counter"],
    ["mcpgw_pg_pool_connections", "gauge"],
    ["mcpgw_pg_query_duration_seconds", "histogram"],
    ["mcpgw_rate_limit_refusals_total", "counter"],
    ["mcpgw_auth_outcomes_total", "counter"],
    ["mcpgw_trace_spans_dropped_total", "counter"],
    // written by the edge's /metrics itself (workers/edge/src/metrics.ts)
    ["mcpgw_worker_up", "gauge"],
  ] as const;
  return base.flatMap(([n, t]) => (t === "histogram" ? [n, `${n}_bucket`, `${n}_sum`, `${n}_count`] : [n]));
})();
