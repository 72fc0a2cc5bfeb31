/**
 * Rate-limit counters shared by the mcp and admin replicas (table rate_limit_counters, migration 0007):
 * one batched upsert adds each replica's local counts and returns the global ones.
 */
import type { Sql } from "../db";

export interface CounterDelta {
  subject: string;
  /** Start of the fixed window, ms since the epoch. */
  windowStart: number;
  /** Requests admitted locally since the last flush (may be 0: read only). */
  delta: number;
}

/**
 * Adds every delta to its (subject, window) row in one statement and returns the global counts,
 * keyed `<subject>\n<windowStart>`. Also deletes rows of windows older than `keepMs`.
 */
export async function addCounts(sql: Sql, deltas: CounterDelta[], keepMs = 5 * 60_000): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (deltas.length === 0) return out;
  const rows = deltas.map((d) => ({
    subject: d.subject,
    window_start: new Date(d.windowStart).toISOString(),
    delta: d.delta,
  }));
  const result = await sql<{ subject: string; window_ms: string; count: number }[]>`
    INSERT INTO rate_limit_counters AS r (subject, window_start, count)
    SELECT x.subject, x.window_start, x.delta
      FROM jsonb_to_recordset(${sql.json(rows)}::jsonb) AS x(subject text, window_start timestamptz, delta integer)
    ON CONFLICT (subject, window_start) DO UPDATE SET count = r.count + EXCLUDED.count
    RETURNING subject, (extract(epoch FROM window_start) * 1000)::bigint::text AS window_ms, count`;
  for (const r of result) out.set(`${r.subject}\n${Number(r.window_ms)}`, Number(r.count));
  await sql`DELETE FROM rate_limit_counters WHERE window_start < ${new Date(Date.now() - keepMs).toISOString()}::timestamptz`;
  return out;
}
