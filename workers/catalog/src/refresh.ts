/**
 * When and how servers are refreshed:
 * - no snapshot yet, or the server row changed since its snapshot (servers.updated_at newer than
 *   server_status.refreshed_at): refreshed inline by the request that finds it (bounded by
 *   UPSTREAM_TIMEOUT_MS);
 * - snapshot older than CATALOG_REFRESH_SECONDS (FAILED_RETRY_SECONDS after a failed listing):
 *   served as is, refreshed in the background (`ctx.waitUntil`), one claimant across isolates and
 *   replicas (claimRefresh);
 * - `POST /internal/refresh[/:server]`: now;
 * - a Cron Trigger (wrangler.toml; on Cloudflare) runs {@link refreshDue} so lists stay fresh
 *   without traffic; on plain workerd the same sweep starts from `/healthz` ({@link sweepInBackground}),
 *   which is how every server is listed at start, before any client uses it;
 * - the admin worker asks for `POST /internal/refresh/:server` after every change of a server, in
 *   its `waitUntil`, so a new or changed server is listed without the admin's request waiting.
 * Servers are refreshed concurrently; one slow upstream never holds up the others.
 */
import { withSql, type Sql } from "../../../shared/db";
import { log } from "../../../shared/log";
import {
  claimRefresh,
  listServerRows,
  loadEraHint,
  loadSnapshot,
  writeRefresh,
  type RefreshResult,
  type StatusRow,
} from "../../../shared/repos/catalog.repo";
import { reconcileReviews, type ReviewMode } from "../../../shared/repos/review.repo";
import { openServerHeaders } from "../../../shared/repos/servers.repo";
import type { ServerRow } from "../../../shared/schemas";
import { keyRing, UnknownKeyError, type SecretKeys } from "../../../shared/secrets";
import { nameConflicts, patchStatus } from "./snapshot.cache";
import { listUpstream, type EraHint } from "./upstream.client";
import { forgetVersion } from "./version.cache";

/** What listing an upstream needs: the time bound, and the keys that open its stored headers. */
export interface Listing {
  /** UPSTREAM_TIMEOUT_MS */
  timeoutMs: number;
  /** SECRETS_KEY and SECRETS_KEY_PREVIOUS, as plain strings (they travel to the pool object). */
  keys: SecretKeys;
}

/** The listing settings of a validated CatalogEnv. */
export function listingOf(env: { UPSTREAM_TIMEOUT_MS: number } & SecretKeys): Listing {
  return {
    timeoutMs: env.UPSTREAM_TIMEOUT_MS,
    keys: { SECRETS_KEY: env.SECRETS_KEY, SECRETS_KEY_PREVIOUS: env.SECRETS_KEY_PREVIOUS },
  };
}

export interface RefreshSettings {
  listing: Listing;
  refreshSeconds: number;
}

/** A failed listing is retried (in the background) after this long, not CATALOG_REFRESH_SECONDS. */
export const FAILED_RETRY_SECONDS = 10;

/** How old a snapshot may get before it is refreshed: shorter after a failure. */
export function maxAgeSeconds(status: StatusRow | undefined, refreshSeconds: number): number {
  return status && !status.ok ? Math.min(refreshSeconds, FAILED_RETRY_SECONDS) : refreshSeconds;
}

/** Why a server needs a refresh now, or null. */
export function refreshNeed(
  server: ServerRow,
  status: StatusRow | undefined,
  refreshSeconds: number,
  now = Date.now(),
): "missing" | "changed" | "old" | null {
  if (!status) return "missing";
  if (server.updated_at.getTime() > status.refreshed_at.getTime()) return "changed";
  if (now - status.refreshed_at.getTime() > maxAgeSeconds(status, refreshSeconds) * 1000) return "old";
  return null;
}

/**
 * Lists one upstream with its stored headers opened (a header that does not open fails the
 * listing with the reason, which names the key but no value).
 */
async function listServer(
  server: ServerRow,
  listing: Listing,
  hint: EraHint | null,
): Promise<RefreshResult & { unknownKey?: boolean }> {
  let headers: Record<string, string>;
  try {
    headers = await openServerHeaders(await keyRing(listing.keys), server.id, server.headers);
  } catch (err) {
    return {
      ok: false,
      error: `secret headers cannot be opened: ${(err as Error).message}`,
      latencyMs: 0,
      unknownKey: err instanceof UnknownKeyError,
    };
  }
  return listUpstream(
    { id: server.id, url: server.url, transport: server.transport, headers },
    listing.timeoutMs,
    hint,
  );
}

/**
 * Lists one upstream (trying the era it was last found in first) and stores the result. Returns
 * the new status, or null when the server was deleted or changed while it was being listed (its
 * next use refreshes it again).
 */
export async function refreshServer(sql: Sql, server: ServerRow, listing: Listing): Promise<StatusRow | null> {
  const result = await listServer(server, listing, await loadEraHint(sql, server.id));
  // Headers sealed with a key this instance does not hold: the start-up step refuses to serve
  // with such rows (and imports check the key), so another deployment re-sealed them since (a
  // rotation while this one still runs). That is this instance's state, not the upstream's: it
  // writes nothing, leaving the listing to the deployment that holds the key.
  if (!result.ok && result.unknownKey) {
    log.warn(
      "stored headers sealed with a key this instance does not hold: listing left as stored (restart it with the current SECRETS_KEY)",
      { server: server.id, error: result.error },
    );
    return null;
  }
  const out = await writeRefresh(sql, server.id, result, {
    expectUpdatedAt: server.updated_at,
    afterItems: (tx, review, items) => reconcileReviews(tx, server.id, review as ReviewMode, items),
  });
  forgetVersion();
  if (!out || out.superseded) {
    log.info("catalog refresh superseded", { server: server.id });
    return null;
  }
  if (!result.ok) {
    log.warn("upstream refresh failed", { server: server.id, error: result.error, latencyMs: result.latencyMs });
  } else {
    if (out.changes.length) {
      const count = (c: string) => out.changes.filter((x) => x.change === c).length;
      log.info("upstream items changed", {
        server: server.id,
        added: count("added"),
        removed: count("removed"),
        changed: count("changed"),
      });
    }
    for (const c of nameConflicts(server.id, result.items)) {
      log.warn("name left out of /mcp: collides with another after shortening", {
        server: server.id,
        kind: c.kind,
        name: c.name,
        exposedName: c.exposedName,
        conflictsWith: c.conflictsWith,
      });
    }
  }
  patchStatus(out.status);
  return out.status;
}

/** Refreshes several servers concurrently; a failure of one never affects the others. */
export async function refreshServers(
  sql: Sql,
  servers: ServerRow[],
  listing: Listing,
): Promise<Map<string, StatusRow | null>> {
  const results = await Promise.all(
    servers.map(async (s) => {
      try {
        return [s.id, await refreshServer(sql, s, listing)] as const;
      } catch (err) {
        log.error("catalog refresh error", { server: s.id, message: String((err as Error)?.message ?? err) });
        return [s.id, null] as const;
      }
    }),
  );
  return new Map(results);
}

/** Per isolate: when a background refresh of a server was last attempted (ms). */
const attempted = new Map<string, number>();

/**
 * Schedules background refreshes of old snapshots in `ctx.waitUntil`, at most one attempt per
 * server per isolate per CATALOG_REFRESH_SECONDS; across isolates the claim in Postgres decides
 * who refreshes.
 */
export function refreshInBackground(
  ctx: ExecutionContext,
  db: { refreshClaimed(due: { server: ServerRow; maxAgeSeconds: number }[], listing: Listing): Promise<StatusRow[]> },
  servers: { server: ServerRow; maxAgeSeconds: number }[],
  settings: RefreshSettings,
): void {
  const now = Date.now();
  const due = servers.filter((s) => now - (attempted.get(s.server.id) ?? 0) > s.maxAgeSeconds * 1000);
  if (!due.length) return;
  for (const s of due) attempted.set(s.server.id, now);
  ctx.waitUntil(
    db
      .refreshClaimed(due, settings.listing)
      .then((shown) => {
        // refreshed here or elsewhere: show it in this isolate too
        for (const status of shown) patchStatus(status);
        if (shown.length) forgetVersion();
      })
      .catch((err) => log.warn("background refresh failed", { message: String((err as Error)?.message ?? err) })),
  );
}

/**
 * Refreshes every enabled server that needs it (no snapshot, changed row, or older than
 * CATALOG_REFRESH_SECONDS, the last claimed across replicas): the catalog's timer (Cron Trigger).
 */
export async function refreshDue(sql: Sql, settings: RefreshSettings): Promise<number> {
  const [servers, snap] = await Promise.all([listServerRows(sql), loadSnapshot(sql)]);
  const due: ServerRow[] = [];
  for (const s of servers.filter((x) => x.enabled)) {
    const status = snap.status.get(s.id);
    const need = refreshNeed(s, status, settings.refreshSeconds);
    if (
      need === "missing" ||
      need === "changed" ||
      (need === "old" && (await claimRefresh(sql, s.id, maxAgeSeconds(status, settings.refreshSeconds))).claimed)
    )
      due.push(s);
  }
  if (due.length) await refreshServers(sql, due, settings.listing);
  return due.length;
}

/** Per isolate: when {@link sweepInBackground} last started a sweep (ms; 0: never). */
let lastSweep = 0;

/**
 * The start-up listing: the first `/healthz` an isolate answers (`npm start` and the test stack
 * ask once when workerd listens; container health checks ask on their own) lists, in the
 * background (`ctx.waitUntil`), every enabled server that has no snapshot, changed since, or is
 * due ({@link refreshDue}); later ones at most once per CATALOG_REFRESH_SECONDS, so a deployment
 * without a Cron Trigger (plain workerd) keeps lists fresh without traffic. The request that
 * triggers it never waits for it. Returns whether a sweep was started.
 */
export function sweepInBackground(
  ctx: ExecutionContext,
  databaseUrl: string,
  settings: RefreshSettings,
  now = Date.now(),
): boolean {
  if (lastSweep && now - lastSweep < settings.refreshSeconds * 1000) return false;
  lastSweep = now;
  ctx.waitUntil(
    withSql(databaseUrl, ctx, (sql) => refreshDue(sql, settings))
      .then((n) => n && log.info("start-up listing done", { servers: n }))
      .catch((err) => {
        lastSweep = 0; // Postgres not there yet: the next /healthz tries again
        log.warn("start-up listing failed", { message: String((err as Error)?.message ?? err) });
      }),
  );
  return true;
}
