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
  /** Pool key (migration 0015) when the session may be parked for its user's next session; absent: never parked. */
  poolKey?: string;
  /** Version of the server's credentials the session was opened with ('' = none). */
  credentialsVersion?: string;
}

/** An upstream session that ended its downstream session: parked (kept for the user's next session) or to be ended upstream. */
export interface EndedUpstream extends UpstreamSession {
  parked: boolean;
}

/** How many parked sessions a pool key keeps at most; older ones are ended upstream. */
export const POOL_KEEP = 2;

const upstreamOf = (r: Record<string, unknown>): UpstreamSession => ({
  server: String(r.server_id),
  usid: (r.upstream_session_id as string | null) ?? null,
  version: String(r.protocol_version),
  ...(r.pool_key ? { poolKey: String(r.pool_key) } : {}),
  ...(r.credentials_version !== undefined && r.credentials_version !== null
    ? { credentialsVersion: String(r.credentials_version) }
    : {}),
});

/** The SQL of this module, run inside the pool object (./db.ts). */
export const sessionOps = {
  async findUpstreamSession(sql: Sql, sid: string, server: string): Promise<UpstreamSession | null> {
    const [row] =
      await sql`SELECT server_id, upstream_session_id, protocol_version, pool_key, credentials_version FROM mcp_upstream_sessions WHERE session_id = ${sid} AND server_id = ${server}`;
    return row ? upstreamOf(row) : null;
  },
  async saveUpstreamSession(sql: Sql, sid: string, email: string, s: UpstreamSession): Promise<void> {
    await sql`
      INSERT INTO mcp_upstream_sessions (session_id, server_id, email, upstream_session_id, protocol_version, pool_key, credentials_version)
      VALUES (${sid}, ${s.server}, ${email}, ${s.usid}, ${s.version}, ${s.poolKey ?? null}, ${s.credentialsVersion ?? ""})
      ON CONFLICT (session_id, server_id) DO UPDATE
        SET upstream_session_id = EXCLUDED.upstream_session_id, protocol_version = EXCLUDED.protocol_version,
            pool_key = EXCLUDED.pool_key, credentials_version = EXCLUDED.credentials_version, reusable = true, created_at = now()`;
  },
  async listUpstreamSessions(sql: Sql, sid: string): Promise<UpstreamSession[]> {
    const rows =
      await sql`SELECT server_id, upstream_session_id, protocol_version FROM mcp_upstream_sessions WHERE session_id = ${sid} ORDER BY server_id`;
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
  /**
   * One statement (atomic without a transaction's extra round trips): the rows go, the mark is
   * set, and with `poolSeconds` > 0 each upstream session that may be reused (opened with a pool
   * key, no stateful request through it, not busy: `busy` = comma-separated server ids with a
   * request in flight) is parked for the same user's next session instead of being ended.
   */
  async endSession(sql: Sql, sid: string, email: string, poolSeconds = 0, busy = ""): Promise<EndedUpstream[]> {
    const rows = await sql`
      WITH gone AS (
        DELETE FROM mcp_upstream_sessions WHERE session_id = ${sid}
        RETURNING server_id, email, upstream_session_id, protocol_version, pool_key, credentials_version, reusable
      ), marked AS (
        INSERT INTO mcp_ended_sessions (session_id, email) VALUES (${sid}, ${email}) ON CONFLICT DO NOTHING
      ), parked AS (
        INSERT INTO mcp_parked_sessions (pool_key, server_id, email, upstream_session_id, protocol_version, credentials_version)
        SELECT pool_key, server_id, email, upstream_session_id, protocol_version, credentials_version FROM gone
        WHERE ${poolSeconds}::int > 0 AND reusable AND pool_key IS NOT NULL AND upstream_session_id IS NOT NULL
          AND NOT (server_id = ANY (string_to_array(${busy}, ',')))
        RETURNING server_id
      )
      SELECT gone.*, gone.server_id IN (SELECT server_id FROM parked) AS parked FROM gone`;
    return rows.map((r) => ({ ...upstreamOf(r), parked: r.parked === true }));
  },
  /**
   * Of a pool key's parked sessions, takes those past `poolSeconds` and those beyond the newest
   * `keep` (they are to be ended upstream).
   */
  async trimParked(sql: Sql, poolKey: string, poolSeconds: number, keep: number): Promise<UpstreamSession[]> {
    const rows = await sql`
      DELETE FROM mcp_parked_sessions WHERE id IN (
        SELECT id FROM (
          SELECT id, parked_at, row_number() OVER (ORDER BY parked_at DESC, id DESC) AS n
          FROM mcp_parked_sessions WHERE pool_key = ${poolKey}
        ) ranked
        WHERE n > ${keep} OR parked_at < now() - make_interval(secs => ${poolSeconds})
      )
      RETURNING server_id, upstream_session_id, protocol_version, pool_key, credentials_version`;
    return rows.map(upstreamOf);
  },
  /**
   * Adopts the newest parked session of `poolKey` younger than `poolSeconds` for the downstream
   * session `sid`, in one statement: the parked row goes (DELETE ... RETURNING with SKIP LOCKED,
   * so two requests never adopt the same one) and the session's row is written. Also takes the
   * key's expired parked sessions and the user's parked sessions of the server opened with other
   * credentials (`expired`: to be ended upstream).
   */
  async adoptParked(
    sql: Sql,
    poolKey: string,
    poolSeconds: number,
    sid: string,
    email: string,
    server: string,
    credentialsVersion: string,
  ): Promise<{ adopted: UpstreamSession | null; expired: UpstreamSession[] }> {
    const rows = await sql`
      WITH picked AS (
        DELETE FROM mcp_parked_sessions WHERE id = (
          SELECT id FROM mcp_parked_sessions
          WHERE pool_key = ${poolKey} AND server_id = ${server} AND email = ${email} AND credentials_version = ${credentialsVersion}
            AND parked_at >= now() - make_interval(secs => ${poolSeconds})
          ORDER BY parked_at DESC, id DESC LIMIT 1 FOR UPDATE SKIP LOCKED
        )
        RETURNING server_id, upstream_session_id, protocol_version, pool_key, credentials_version
      ), saved AS (
        INSERT INTO mcp_upstream_sessions (session_id, server_id, email, upstream_session_id, protocol_version, pool_key, credentials_version)
        SELECT ${sid}, server_id, ${email}, upstream_session_id, protocol_version, pool_key, credentials_version FROM picked
        ON CONFLICT (session_id, server_id) DO UPDATE
          SET upstream_session_id = EXCLUDED.upstream_session_id, protocol_version = EXCLUDED.protocol_version,
              pool_key = EXCLUDED.pool_key, credentials_version = EXCLUDED.credentials_version, reusable = true, created_at = now()
        RETURNING 1
      ), expired AS (
        DELETE FROM mcp_parked_sessions WHERE id IN (
          SELECT id FROM mcp_parked_sessions
          WHERE (pool_key = ${poolKey} AND parked_at < now() - make_interval(secs => ${poolSeconds}))
             OR (email = ${email} AND server_id = ${server} AND credentials_version <> ${credentialsVersion})
          FOR UPDATE SKIP LOCKED
        )
        RETURNING server_id, upstream_session_id, protocol_version, pool_key, credentials_version
      )
      SELECT true AS adopted, * FROM picked UNION ALL SELECT false AS adopted, * FROM expired`;
    const adopted = rows.find((r) => r.adopted === true);
    return {
      adopted: adopted ? upstreamOf(adopted) : null,
      expired: rows.filter((r) => r.adopted !== true).map(upstreamOf),
    };
  },
  /**
   * Adopts, ahead of use, the newest fresh parked session of each pool key in `keys` (comma-
   * separated; each key names one server) for the downstream session `sid`, in one statement:
   * parked rows go (SKIP LOCKED: never adopted twice), the session's rows are written.
   */
  /** `parked: true` on one taken but not recorded (the session had one for that server already): to be ended upstream. */
  async adoptParkedAhead(
    sql: Sql,
    keys: string,
    poolSeconds: number,
    sid: string,
    email: string,
  ): Promise<EndedUpstream[]> {
    const rows = await sql`
      WITH picked AS (
        DELETE FROM mcp_parked_sessions WHERE id IN (
          SELECT x.id FROM unnest(string_to_array(${keys}, ',')) AS k(key)
          CROSS JOIN LATERAL (
            SELECT id FROM mcp_parked_sessions
            WHERE pool_key = k.key AND email = ${email} AND parked_at >= now() - make_interval(secs => ${poolSeconds})
            ORDER BY parked_at DESC, id DESC LIMIT 1 FOR UPDATE SKIP LOCKED
          ) x
        )
        RETURNING server_id, upstream_session_id, protocol_version, pool_key, credentials_version
      ), saved AS (
        INSERT INTO mcp_upstream_sessions (session_id, server_id, email, upstream_session_id, protocol_version, pool_key, credentials_version)
        SELECT ${sid}, server_id, ${email}, upstream_session_id, protocol_version, pool_key, credentials_version FROM picked
        ON CONFLICT (session_id, server_id) DO NOTHING
        RETURNING server_id
      )
      SELECT picked.*, picked.server_id IN (SELECT server_id FROM saved) AS saved FROM picked`;
    return rows.map((r) => ({ ...upstreamOf(r), parked: r.saved !== true }));
  },
  /** A stateful request is about to go through the session: it is never parked. */
  async markNotReusable(sql: Sql, sid: string, server: string): Promise<void> {
    await sql`UPDATE mcp_upstream_sessions SET reusable = false WHERE session_id = ${sid} AND server_id = ${server} AND reusable`;
  },
  async purgeOldSessions(sql: Sql, maxAgeSeconds: number): Promise<void> {
    await sql`DELETE FROM mcp_upstream_sessions WHERE created_at < now() - make_interval(secs => ${maxAgeSeconds})`;
    await sql`DELETE FROM mcp_ended_sessions WHERE ended_at < now() - make_interval(secs => ${maxAgeSeconds})`;
    // parked sessions no one adopted: the upstream forgets idle sessions on its own
    await sql`DELETE FROM mcp_parked_sessions WHERE parked_at < now() - interval '1 day'`;
  },
};
