/**
 * Upstream sessions of the mcp worker (migration 0006): for each owner (a downstream session id,
 * or a modern client's per-user key) and server, the upstream session it uses; and the
 * downstream sessions clients ended. Run inside the mcp worker's pool object.
 */
import type { Sql } from "../db";

export interface UpstreamSession {
  server: string;
  /** The upstream's Mcp-Session-Id; null for a stateless upstream. */
  usid: string | null;
  version: string;
}

const upstreamOf = (r: Record<string, unknown>): UpstreamSession => ({
  server: String(r.server_id),
  usid: (r.upstream_session_id as string | null) ?? null,
  version: String(r.protocol_version),
});

/** The SQL of this module, run inside the pool object (./db.ts). */
export const sessionOps = {
  async findUpstreamSession(sql: Sql, sid: string, server: string): Promise<UpstreamSession | null> {
    const [row] = await sql`SELECT server_id, upstream_session_id, protocol_version FROM mcp_upstream_sessions WHERE session_id = ${sid} AND server_id = ${server}`;
    return row ? upstreamOf(row) : null;
  },
  async saveUpstreamSession(sql: Sql, sid: string, email: string, s: UpstreamSession): Promise<void> {
    await sql`
      INSERT INTO mcp_upstream_sessions (session_id, server_id, email, upstream_session_id, protocol_version)
      VALUES (${sid}, ${s.server}, ${email}, ${s.usid}, ${s.version})
      ON CONFLICT (session_id, server_id) DO UPDATE
        SET upstream_session_id = EXCLUDED.upstream_session_id, protocol_version = EXCLUDED.protocol_version, created_at = now()`;
  },
  async listUpstreamSessions(sql: Sql, sid: string): Promise<UpstreamSession[]> {
    const rows = await sql`SELECT server_id, upstream_session_id, protocol_version FROM mcp_upstream_sessions WHERE session_id = ${sid} ORDER BY server_id`;
    return rows.map(upstreamOf);
  },
  /** Sessions ended since `dbTime` (Postgres's clock; now when null), less 2 s for commit skew. */
  async endedSince(sql: Sql, dbTime: string | null): Promise<{ dbTime: string; ids: string[] }> {
    const [row] = await sql`
      SELECT now()::text AS t, coalesce(json_agg(session_id), '[]'::json) AS ids FROM mcp_ended_sessions
      WHERE ended_at >= coalesce(${dbTime}::timestamptz, now()) - interval '2 seconds'`;
    return { dbTime: String(row!.t), ids: (row?.ids as string[] | undefined) ?? [] };
  },
  async isEnded(sql: Sql, sid: string): Promise<boolean> {
    const [hit] = await sql`SELECT 1 AS ended FROM mcp_ended_sessions WHERE session_id = ${sid}`;
    return Boolean(hit);
  },
  /** One statement (atomic without a transaction's extra round trips): the rows go, the mark is set. */
  async endSession(sql: Sql, sid: string, email: string): Promise<UpstreamSession[]> {
    const rows = await sql`
      WITH gone AS (
        DELETE FROM mcp_upstream_sessions WHERE session_id = ${sid} RETURNING server_id, upstream_session_id, protocol_version
      ), marked AS (
        INSERT INTO mcp_ended_sessions (session_id, email) VALUES (${sid}, ${email}) ON CONFLICT DO NOTHING
      )
      SELECT * FROM gone`;
    return rows.map(upstreamOf);
  },
  async purgeOldSessions(sql: Sql, maxAgeSeconds: number): Promise<void> {
    await sql`DELETE FROM mcp_upstream_sessions WHERE created_at < now() - make_interval(secs => ${maxAgeSeconds})`;
    await sql`DELETE FROM mcp_ended_sessions WHERE ended_at < now() - make_interval(secs => ${maxAgeSeconds})`;
  },
};
