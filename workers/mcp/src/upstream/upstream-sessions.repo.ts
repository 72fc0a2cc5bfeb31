/**
 * Upstream sessions of downstream sessions, and ended downstream sessions, in Postgres (migration
 * 0006) behind a small isolate cache - so any replica continues a session any other one began.
 * The SQL is in shared/repos/mcp-sessions.repo.ts, run by the worker's Postgres pool (../db.ts).
 */
import { POOL_KEEP, type EndedUpstream, type UpstreamSession } from "../../../../shared/repos/mcp-sessions.repo";
import type { McpDb } from "../db";

export type { EndedUpstream, UpstreamSession };

const cache = new Map<string, UpstreamSession>();
const MAX_CACHE = 5_000;
const k = (sid: string, server: string) => `${sid}\u0000${server}`;

/** The upstream session of `sid` on `server`: from the isolate cache, else Postgres. */
export async function findUpstreamSession(
  db: McpDb,
  sid: string,
  server: string,
  fresh = false,
): Promise<UpstreamSession | null> {
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

/**
 * Marks a session ended and drops its upstream sessions' rows; returns those upstream sessions,
 * each parked (kept for the user's next session: pool.ts) or not (to be ended upstream).
 * @param poolSeconds MCP_SESSION_POOL_SECONDS (0: nothing is parked)
 * @param busy servers whose upstream session has a request in flight in this isolate (never parked)
 */
export async function endSession(
  db: McpDb,
  sid: string,
  email: string,
  poolSeconds = 0,
  busy: string[] = [],
): Promise<EndedUpstream[]> {
  const ended = await db.run("endSession", sid, email, poolSeconds, busy.join(","));
  for (const us of ended) cache.delete(k(sid, us.server));
  remembered(endedIds, sid, 100_000);
  return ended;
}

/** Of a pool key's parked sessions, takes the expired ones and those beyond POOL_KEEP (to be ended upstream). */
export async function trimParked(db: McpDb, poolKey: string, poolSeconds: number): Promise<UpstreamSession[]> {
  return db.run("trimParked", poolKey, poolSeconds, POOL_KEEP);
}

/** Adopts a parked session of `poolKey` for `sid` (recorded as its upstream session); also takes the key's expired ones. */
export async function adoptParked(
  db: McpDb,
  a: { poolKey: string; poolSeconds: number; sid: string; email: string; server: string; credentialsVersion: string },
): Promise<{ adopted: UpstreamSession | null; expired: UpstreamSession[] }> {
  const got = await db.run("adoptParked", a.poolKey, a.poolSeconds, a.sid, a.email, a.server, a.credentialsVersion);
  if (got.adopted) remember(a.sid, got.adopted);
  return got;
}

/** Adopts ahead of use one parked session per pool key for `sid` (recorded as its upstream sessions). */
export async function adoptParkedAhead(
  db: McpDb,
  keys: string[],
  poolSeconds: number,
  sid: string,
  email: string,
): Promise<{ adopted: UpstreamSession[]; orphaned: UpstreamSession[] }> {
  if (!keys.length) return { adopted: [], orphaned: [] };
  const got = await db.run("adoptParkedAhead", keys.join(","), poolSeconds, sid, email);
  const adopted: UpstreamSession[] = [];
  const orphaned: UpstreamSession[] = [];
  for (const { parked, ...us } of got) {
    if (parked) orphaned.push(us);
    else {
      remember(sid, us);
      adopted.push(us);
    }
  }
  return { adopted, orphaned };
}

/** Stateful requests' sessions marked in this isolate (one UPDATE per session and server). */
const markedStateful = new Set<string>();

/** Marks the upstream session of `sid` on `server` not reusable (before a request that leaves state in it). */
export async function markNotReusable(db: McpDb, sid: string, server: string): Promise<void> {
  const key = k(sid, server);
  if (markedStateful.has(key)) return;
  await db.run("markNotReusable", sid, server);
  remembered(markedStateful, key, 10_000);
}

/** Forgets that this isolate marked `sid`'s session on `server` (a new upstream session replaced it). */
export function forgetMarked(sid: string, server: string): void {
  markedStateful.delete(k(sid, server));
}

/** Deletes upstream-session rows and ended-session marks older than `maxAgeSeconds`. */
export async function purgeOldSessions(db: McpDb, maxAgeSeconds: number): Promise<void> {
  await db.run("purgeOldSessions", maxAgeSeconds);
}
