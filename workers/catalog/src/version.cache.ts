/**
 * The catalog version (catalog_state.version: bumped by triggers on every grant change and every
 * snapshot change) as this isolate last saw it, through a {@link VersionGate}: re-read at most
 * every CATALOG_VERSION_TTL_MS (inline: a request past the TTL sees every change made before it).
 * So a warm request costs no query and a change is seen within the TTL (500 ms by default).
 *
 * No promise is shared between requests (workerd cancels a request that waits on another
 * request's I/O as "hung"): concurrent inline reads each ask the pool, which runs one query for
 * all of them (db.ts).
 *
 * When Postgres is unreachable, the last version seen stays in force for STALE_CATALOG_MAX_SECONDS
 * after the last successful read; past that, requests fail closed
 * (503, shared/http.ts).
 */
import { VersionGate, type WaitUntil } from "../../../shared/cache/versioned";
import { log } from "../../../shared/log";

const gate = new VersionGate();
let warnedStale = false;

/** How fresh the version must be: the worker's settings, passed in with each read. */
export interface VersionBounds {
  /** Re-read after this long (CATALOG_VERSION_TTL_MS). */
  ttlMs: number;
  /** Serve the last version this long after the last good read while Postgres is down (STALE_CATALOG_MAX_SECONDS). */
  staleMaxMs: number;
}

/** The bounds of a validated CatalogEnv. */
export function versionBounds(env: {
  CATALOG_VERSION_TTL_MS: number;
  STALE_CATALOG_MAX_SECONDS: number;
}): VersionBounds {
  return { ttlMs: env.CATALOG_VERSION_TTL_MS, staleMaxMs: env.STALE_CATALOG_MAX_SECONDS * 1000 };
}

/**
 * The current catalog version.
 * @throws VersionUnavailable when it cannot be read and the last good read is older than the stale bound
 */
export async function currentVersion(
  db: { version(): Promise<number> },
  bounds: VersionBounds,
  ctx: WaitUntil,
): Promise<number> {
  const { ttlMs, staleMaxMs } = bounds;
  const r = await gate.current(() => db.version(), ctx, { ttlMs, maxInlineAgeMs: ttlMs, staleMaxMs });
  if (r.stale && !warnedStale)
    log.warn("catalog: Postgres unreachable; serving the cached catalog", { staleSeconds: staleMaxMs / 1000 });
  warnedStale = r.stale;
  return r.version;
}

/** Makes the next {@link currentVersion} ask Postgres (after this isolate changed something). */
export function forgetVersion(): void {
  gate.forget();
}
