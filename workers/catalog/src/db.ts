/**
 * What the catalog reads and writes in Postgres on its request path, as one interface with two
 * implementations: through the worker's pool (PgPool Durable Object, shared/pool) for requests,
 * and over a plain client for the timer and the admin-triggered refresh routes.
 *
 * Inline refreshes run inside the pool object, which shares them: concurrent requests that find
 * the same server missing or changed wait for one listing instead of each listing the upstream
 * and queueing on the refresh's advisory lock with a connection held.
 */
import type { Sql } from "../../../shared/db";
import { poolOf } from "../../../shared/pool";
import { catalogVersion, loadAccess, type Access } from "../../../shared/repos/access.repo";
import { claimRefresh, loadSnapshot, type Snapshot, type StatusRow } from "../../../shared/repos/catalog.repo";
import type { ServerRow } from "../../../shared/schemas";
import { refreshServers } from "./refresh";

export interface CatalogDb {
  version(): Promise<number>;
  access(email: string): Promise<Access>;
  snapshot(): Promise<Snapshot>;
  /** Lists the servers now and stores the results; the new status per server (null: superseded or failed). */
  refresh(servers: ServerRow[], timeoutMs: number): Promise<Map<string, StatusRow | null>>;
  /**
   * Claims each old server across replicas and refreshes the claimed ones; the status to show per
   * server (refreshed here, or as refreshed elsewhere).
   */
  refreshClaimed(due: { server: ServerRow; maxAgeSeconds: number }[], timeoutMs: number): Promise<StatusRow[]>;
}

/** In the pool object: one listing per server (and row version) at a time, shared by every caller. */
const inflight = new Map<string, Promise<StatusRow | null>>();

async function refreshShared(sql: Sql, servers: ServerRow[], timeoutMs: number): Promise<Map<string, StatusRow | null>> {
  const results = await Promise.all(
    servers.map(async (s) => {
      const key = `${s.id}\u0000${s.updated_at.getTime()}`;
      let running = inflight.get(key);
      if (!running) {
        running = refreshServers(sql, [s], timeoutMs)
          .then((m) => m.get(s.id) ?? null)
          .finally(() => inflight.delete(key));
        inflight.set(key, running);
      }
      return [s.id, await running] as const;
    }),
  );
  return new Map(results);
}

async function refreshClaimed(sql: Sql, due: { server: ServerRow; maxAgeSeconds: number }[], timeoutMs: number): Promise<StatusRow[]> {
  const shown: StatusRow[] = [];
  const claimed: ServerRow[] = [];
  for (const { server, maxAgeSeconds } of due) {
    const claim = await claimRefresh(sql, server.id, maxAgeSeconds);
    if (claim.claimed) claimed.push(server);
    else if (claim.status) shown.push(claim.status);
  }
  if (claimed.length) for (const status of (await refreshShared(sql, claimed, timeoutMs)).values()) if (status) shown.push(status);
  return shown;
}

/** The operations the catalog's PgPool runs (shared/pool). */
export const catalogOps = {
  version: (sql: Sql) => catalogVersion(sql),
  access: (sql: Sql, email: string) => loadAccess(sql, email),
  snapshot: (sql: Sql) => loadSnapshot(sql),
  refresh: refreshShared,
  refreshClaimed,
};

/** The catalog's Postgres through its pool (the PG_POOL binding). */
export function pooledDb(bindings: Record<string, unknown>): CatalogDb {
  const pool = poolOf<typeof catalogOps>(bindings.PG_POOL);
  return {
    version: () => pool.run("version"),
    access: (email) => pool.run("access", email),
    snapshot: () => pool.run("snapshot"),
    refresh: (servers, timeoutMs) => pool.run("refresh", servers, timeoutMs),
    refreshClaimed: (due, timeoutMs) => pool.run("refreshClaimed", due, timeoutMs),
  };
}

/** The same over a client the caller owns (timer, admin-triggered refreshes). */
export function sqlDb(sql: Sql): CatalogDb {
  return {
    version: () => catalogOps.version(sql),
    access: (email) => catalogOps.access(sql, email),
    snapshot: () => catalogOps.snapshot(sql),
    refresh: (servers, timeoutMs) => refreshShared(sql, servers, timeoutMs),
    refreshClaimed: (due, timeoutMs) => refreshClaimed(sql, due, timeoutMs),
  };
}
