/**
 * Usage reports from the audit log's `tool_call` rows (written by the mcp worker: actor = email,
 * server_id, tool, outcome ok|error|denied, duration_ms): calls over time buckets and per
 * user / tenant / server / tool, with error rates and p50/p95 latency.
 */
import type { Db } from "./audit.repo";

export type Bucket = "minute" | "hour" | "day";
export type Dimension = "user" | "tenant" | "server" | "tool";

export interface UsageFilter {
  since: Date;
  until: Date;
  bucket: Bucket;
  user?: string;
  tenant?: string;
  server?: string;
  tool?: string;
}

export interface UsageStats {
  calls: number;
  errors: number;
  denied: number;
  /** errors / calls, 0 when no calls. */
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface UsageReport {
  since: Date;
  until: Date;
  bucket: Bucket;
  totals: UsageStats;
  series: (UsageStats & { at: Date })[];
  by: Record<Dimension, (UsageStats & { key: string })[]>;
}

function stats(r: Record<string, unknown>): UsageStats {
  const calls = Number(r.calls ?? 0);
  const errors = Number(r.errors ?? 0);
  return {
    calls,
    errors,
    denied: Number(r.denied ?? 0),
    errorRate: calls ? errors / calls : 0,
    p50Ms: r.p50 == null ? null : Math.round(Number(r.p50)),
    p95Ms: r.p95 == null ? null : Math.round(Number(r.p95)),
  };
}

const STEP: Record<Bucket, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** Every bucket of the window (UTC), empty ones as zeros, so charts show time to scale. */
function fillBuckets(f: UsageFilter, rows: (UsageStats & { at: Date })[]): (UsageStats & { at: Date })[] {
  const step = STEP[f.bucket];
  const first = Math.floor(f.since.getTime() / step) * step;
  if ((f.until.getTime() - first) / step > 1500) return rows;
  const byAt = new Map(rows.map((r) => [r.at.getTime(), r]));
  const out: (UsageStats & { at: Date })[] = [];
  for (let at = first; at < f.until.getTime(); at += step) {
    out.push(
      byAt.get(at) ?? { at: new Date(at), calls: 0, errors: 0, denied: 0, errorRate: 0, p50Ms: null, p95Ms: null },
    );
  }
  return out;
}

/** The row labels of calls no server can be named for: a denied name that resolves to no server. */
export const UNKNOWN_TOOL = "(unknown tool)";

/**
 * Builds the usage report for a window. Each call is attributed to the server its name resolves
 * to: the row's server, else (a denied call on `/mcp`, stored without one) the `<server>__` prefix
 * of the name when such a server or virtual server exists. Calls of a server deleted since count
 * under tenant "(deleted)", of a virtual server under "(virtual server)"; names that resolve to
 * nothing under one "(unknown tool)" row in every dimension but the user's.
 */
export async function usageReport(db: Db, f: UsageFilter): Promise<UsageReport> {
  const resolved = db`
    SELECT a.at, lower(a.actor) AS usr, a.outcome, a.duration_ms, a.server_id,
           COALESCE(a.server_id, CASE WHEN position('__' IN a.tool) > 1 THEN split_part(a.tool, '__', 1) END) AS sid,
           CASE WHEN a.server_id IS NULL AND position('__' IN a.tool) > 1 THEN substr(a.tool, position('__' IN a.tool) + 2) ELSE COALESCE(a.tool, '') END AS tname
    FROM audit_log a
    WHERE a.kind = 'tool_call' AND a.at >= ${f.since} AND a.at < ${f.until}
      AND (${f.user?.toLowerCase() ?? null}::text IS NULL OR lower(a.actor) = ${f.user?.toLowerCase() ?? null})`;
  const labelled = db`
    SELECT r.at, r.usr, r.outcome, r.duration_ms,
           CASE WHEN s.id IS NOT NULL THEN s.tenant_id WHEN v.id IS NOT NULL THEN '(virtual server)'
                WHEN r.server_id IS NOT NULL THEN '(deleted)' ELSE ${UNKNOWN_TOOL} END AS tenant,
           CASE WHEN s.id IS NOT NULL OR v.id IS NOT NULL OR r.server_id IS NOT NULL THEN r.sid ELSE ${UNKNOWN_TOOL} END AS server,
           CASE WHEN s.id IS NOT NULL OR v.id IS NOT NULL OR r.server_id IS NOT NULL THEN r.tname ELSE ${UNKNOWN_TOOL} END AS tool
    FROM (${resolved}) r
    LEFT JOIN servers s ON s.id = r.sid
    LEFT JOIN virtual_servers v ON s.id IS NULL AND v.id = r.sid`;
  const base = db`
    SELECT * FROM (${labelled}) l
    WHERE (${f.server ?? null}::text IS NULL OR l.server = ${f.server ?? null})
      AND (${f.tool ?? null}::text IS NULL OR l.tool = ${f.tool ?? null})
      AND (${f.tenant ?? null}::text IS NULL OR l.tenant = ${f.tenant ?? null})`;
  const agg = db`count(*) AS calls, count(*) FILTER (WHERE outcome = 'error') AS errors, count(*) FILTER (WHERE outcome = 'denied') AS denied,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95`;
  const [totals, series, byUser, byTenant, byServer, byTool] = await Promise.all([
    db`SELECT ${agg} FROM (${base}) x`,
    db`SELECT date_trunc(${f.bucket}, at, 'UTC') AS at, ${agg} FROM (${base}) x GROUP BY 1 ORDER BY 1`,
    db`SELECT usr AS key, ${agg} FROM (${base}) x GROUP BY 1 ORDER BY calls DESC, key LIMIT 50`,
    db`SELECT tenant AS key, ${agg} FROM (${base}) x GROUP BY 1 ORDER BY calls DESC, key LIMIT 50`,
    db`SELECT server AS key, ${agg} FROM (${base}) x GROUP BY 1 ORDER BY calls DESC, key LIMIT 50`,
    db`SELECT CASE WHEN server = ${UNKNOWN_TOOL} THEN server ELSE server || '__' || tool END AS key, ${agg} FROM (${base}) x GROUP BY 1 ORDER BY calls DESC, key LIMIT 50`,
  ]);
  const keyed = (rows: Record<string, unknown>[]) => rows.map((r) => ({ key: String(r.key), ...stats(r) }));
  return {
    since: f.since,
    until: f.until,
    bucket: f.bucket,
    totals: stats(totals[0] ?? {}),
    series: fillBuckets(
      f,
      series.map((r) => ({ at: new Date(r.at as string), ...stats(r) })),
    ),
    by: { user: keyed(byUser), tenant: keyed(byTenant), server: keyed(byServer), tool: keyed(byTool) },
  };
}

/** How far back the health page's live figures look (s): the span of a Prometheus `rate(...[5m])`. */
export const LIVE_WINDOW_SECONDS = 300;

/** One server's tool calls over the last {@link LIVE_WINDOW_SECONDS}, summed over every mcp replica. */
export interface LiveFigures {
  /** Calls answered (ok, error, or resumed by the client); refused (denied) calls are not counted. */
  calls: number;
  errors: number;
  /** calls per second over the window. */
  rate: number;
  /** errors / calls; null when no calls. */
  errorRatio: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
}

/**
 * The live figures per server from the audit log's `tool_call` rows of the last window: the
 * same calls the mcp worker counts in `mcpgw_tool_calls_total` / `mcpgw_tool_call_duration_seconds`
 * (both recorded at one place, Dispatcher.audit), but from Postgres, which every mcp replica
 * writes to, where a per-process `/metrics` scrape sees one replica only. Servers without calls
 * in the window are absent from the map.
 */
export async function liveFigures(db: Db, windowSeconds = LIVE_WINDOW_SECONDS): Promise<Map<string, LiveFigures>> {
  const rows = await db`
    SELECT server_id, count(*) AS calls, count(*) FILTER (WHERE outcome = 'error') AS errors,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95
    FROM audit_log
    WHERE kind = 'tool_call' AND at >= now() - make_interval(secs => ${windowSeconds}) AND server_id IS NOT NULL AND outcome <> 'denied'
    GROUP BY server_id`;
  const out = new Map<string, LiveFigures>();
  for (const r of rows) {
    const calls = Number(r.calls);
    const errors = Number(r.errors);
    out.set(String(r.server_id), {
      calls,
      errors,
      rate: calls / windowSeconds,
      errorRatio: calls ? errors / calls : null,
      p50Ms: r.p50 == null ? null : Math.round(Number(r.p50)),
      p95Ms: r.p95 == null ? null : Math.round(Number(r.p95)),
    });
  }
  return out;
}

/** How many tenants, servers, groups and users there are (the admin overview). */
export async function overviewCounts(
  db: Db,
): Promise<{ tenants: number; servers: number; groups: number; users: number }> {
  const [row] = await db`SELECT (SELECT count(*) FROM tenants) AS tenants, (SELECT count(*) FROM servers) AS servers,
    (SELECT count(*) FROM groups) AS groups, (SELECT count(*) FROM users) AS users`;
  return {
    tenants: Number(row?.tenants),
    servers: Number(row?.servers),
    groups: Number(row?.groups),
    users: Number(row?.users),
  };
}
