/**
 * What the catalog reads and writes in Postgres on its request path, as one interface with two
 * implementations: through the worker's pool (PgPool Durable Object, shared/pool) for requests,
 * and over a plain client for the timer and the admin-triggered refresh routes.
 *
 * The pool object shares work between concurrent callers (its requests, unlike a worker's, may
 * wait on each other): one version read, one snapshot load and one access load per user at a
 * time, and one inline refresh per server - so when the version moves under load, 50 requests
 * cost one query each, not 50, and concurrent requests that find a server missing or changed
 * wait for one listing instead of each listing the upstream and queueing on the refresh's
 * advisory lock. The plain-client variant ({@link sqlDb}) shares nothing: a worker request must
 * never wait on another request's I/O (workerd cancels it as hung).
 */
import type { Sql } from "../../../shared/db";
import { poolOf } from "../../../shared/pool";
import { catalogVersion, loadAccess, type Access } from "../../../shared/repos/access.repo";
import { claimRefresh, loadSnapshot, type Snapshot, type StatusRow } from "../../../shared/repos/catalog.repo";
import type { ServerRow } from "../../../shared/schemas";
import { refreshServers, type Listing } from "./refresh";

export interface CatalogDb {
  version(): Promise<number>;
  access(email: string): Promise<Access>;
  snapshot(): Promise<Snapshot>;
  /** Lists the servers now and stores the results; the new status per server (null: superseded or failed). */
  refresh(servers: ServerRow[], listing: Listing): Promise<Map<string, StatusRow | null>>;
  /**
   * Claims each old server across replicas and refreshes the claimed ones; the status to show per
   * server (refreshed here, or as refreshed elsewhere).
   */
  refreshClaimed(due: { server: ServerRow; maxAgeSeconds: number }[], listing: Listing): Promise<StatusRow[]>;
}

/** `fn` with concurrent calls for the same key sharing one run (in the pool object only). */
function shared<A extends unknown[], R>(
  key: (...args: A) => string,
  fn: (sql: Sql, ...args: A) => Promise<R>,
): (sql: Sql, ...args: A) => Promise<R> {
  const running = new Map<string, Promise<R>>();
  return (sql, ...args) => {
    const k = key(...args);
    let p = running.get(k);
    if (!p) {
      p = fn(sql, ...args).finally(() => running.delete(k));
      running.set(k, p);
    }
    return p;
  };
}

/** One listing per server (and row version) at a time. */
const refreshOne = shared(
  (s: ServerRow, _listing: Listing) => `${s.id}\u0000${s.updated_at.getTime()}`,
  async (sql, s: ServerRow, listing: Listing): Promise<StatusRow | null> =>
    (await refreshServers(sql, [s], listing)).get(s.id) ?? null,
);

async function refreshShared(sql: Sql, servers: ServerRow[], listing: Listing): Promise<Map<string, StatusRow | null>> {
  return new Map(await Promise.all(servers.map(async (s) => [s.id, await refreshOne(sql, s, listing)] as const)));
}

async function refreshClaimed(
  sql: Sql,
  due: { server: ServerRow; maxAgeSeconds: number }[],
  listing: Listing,
  refresh = refreshShared,
): Promise<StatusRow[]> {
  const shown: StatusRow[] = [];
  const claimed: ServerRow[] = [];
  for (const { server, maxAgeSeconds } of due) {
    const claim = await claimRefresh(sql, server.id, maxAgeSeconds);
    if (claim.claimed) claimed.push(server);
    else if (claim.status) shown.push(claim.status);
  }
  if (claimed.length)
    for (const status of (await refresh(sql, claimed, listing)).values()) if (status) shown.push(status);
  return shown;
}

/** The operations the catalog's PgPool runs (shared/pool). */
export const catalogOps = {
  version: shared(() => "", catalogVersion),
  access: shared((email: string) => email.trim().toLowerCase(), loadAccess),
  snapshot: shared(() => "", loadSnapshot),
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
    refresh: (servers, listing) => pool.run("refresh", servers, listing),
    refreshClaimed: (due, listing) => pool.run("refreshClaimed", due, listing),
  };
}

/** The same over a client the caller owns (timer, admin-triggered refreshes). */
export function sqlDb(sql: Sql): CatalogDb {
  return {
    version: () => catalogVersion(sql),
    access: (email) => loadAccess(sql, email),
    snapshot: () => loadSnapshot(sql),
    refresh: (servers, listing) => refreshServers(sql, servers, listing),
    refreshClaimed: (due, listing) => refreshClaimed(sql, due, listing, refreshServers),
  };
}
