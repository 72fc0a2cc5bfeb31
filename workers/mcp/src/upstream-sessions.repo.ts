/**
 * Upstream sessions of downstream sessions, and ended downstream sessions, in Postgres (migration
 * 0006) behind a small isolate cache - so any replica continues a session any other one began.
 * The SQL is in {@link sessionOps}, run by the worker's Postgres pool (./db.ts).
 */
import type { Sql } from "../../../shared/db";
import type { McpDb } from "./db";

export interface UpstreamSession {
  server: string;
  /** The upstream's Mcp-Session-Id; null for a stateless upstream. */
  usid: string | null;
  version: string;
}

const cache = new Map<string, UpstreamSession>();
const MAX_CACHE = 5_000;
const k = (sid: string, server: string) => `${sid}\u0000${server}`;

/** The upstream session of `sid` on `server`: from the isolate cache, else Postgres. */
export async function findUpstreamSession(db: McpDb, sid: string, server: string, fresh = false): Promise<UpstreamSession | null> {
  if (!fresh) {
    const hit = cache.get(k(sid, server));
    if (hit) return hit;
  }
  const found = await db.run("findUpstreamSession", sid, server);
  if (!found) {
    cache.delete(k(sid, server));
    return null;
  }
  remember(sid, found);
  return found;
}

function remember(sid: string, s: UpstreamSession) {
  if (cache.size >= MAX_CACHE) cache.delete(cache.keys().next().value!);
  cache.set(k(sid, s.server), s);
}

/** Records (or replaces) the upstream session of `sid` on a server. */
export async function saveUpstreamSession(db: McpDb, sid: string, email: string, s: UpstreamSession): Promise<void> {
  await db.run("saveUpstreamSession", sid, email, s);
  remember(sid, s);
}

/** Forgets the cached copy (after the upstream said 404). */
export function forgetCached(sid: string, server: string): void {
  cache.delete(k(sid, server));
}

/** Every upstream session a downstream session opened (for cancellation fan-out and DELETE). */
export async function listUpstreamSessions(db: McpDb, sid: string): Promise<UpstreamSession[]> {
  return db.run("listUpstreamSessions", sid);
}

/** Sessions known to be ended, and sessions confirmed open by a query of their own (isolate memory). */
const endedIds = new Set<string>();
const confirmedOpen = new Set<string>();
/** How often an isolate looks for sessions other replicas ended (ms). */
const ENDED_POLL_MS = 1000;
let poll = { dbTime: null as string | null, at: 0, coveredSince: Number.POSITIVE_INFINITY };

/** Whether this isolate knows the session ended (no query). */
export function isKnownEnded(sid: string): boolean {
  return endedIds.has(sid);
}

function remembered(set: Set<string>, id: string, max: number) {
  if (set.size >= max) set.delete(set.values().next().value!);
  set.add(id);
}

/**
 * Whether the client ended this session (DELETE), without a query per request: each isolate
 * polls for newly ended sessions at most every second (so a DELETE on another replica is in
 * force within about a second), and asks about one session directly only when it was issued
 * before this isolate began polling.
 * @param issuedAt the session's `iat` (epoch seconds)
 */
export async function isSessionEnded(db: McpDb, sid: string, issuedAt: number): Promise<boolean> {
  if (endedIds.has(sid)) return true;
  const now = Date.now();
  if (now - poll.at >= ENDED_POLL_MS) {
    const ended = await db.run("endedSince", poll.dbTime);
    for (const id of ended.ids) remembered(endedIds, id, 100_000);
    poll = { dbTime: ended.dbTime, at: now, coveredSince: Math.min(poll.coveredSince, now - 2000) };
    if (endedIds.has(sid)) return true;
  }
  // ended after this isolate began polling: the polls saw it
  if (issuedAt * 1000 > poll.coveredSince + 5000 || confirmedOpen.has(sid)) return false;
  if (await db.run("isEnded", sid)) {
    remembered(endedIds, sid, 100_000);
    return true;
  }
  remembered(confirmedOpen, sid, 10_000);
  return false;
}

/** Marks a session ended and drops its upstream sessions' rows; returns those upstream sessions. */
export async function endSession(db: McpDb, sid: string, email: string): Promise<UpstreamSession[]> {
  const ended = await db.run("endSession", sid, email);
  for (const us of ended) cache.delete(k(sid, us.server));
  remembered(endedIds, sid, 100_000);
  return ended;
}

/** Deletes upstream-session rows and ended-session marks older than `maxAgeSeconds`. */
export async function purgeOldSessions(db: McpDb, maxAgeSeconds: number): Promise<void> {
  await db.run("purgeOldSessions", maxAgeSeconds);
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
