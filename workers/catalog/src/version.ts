/**
 * The catalog version (catalog_state.version: bumped by triggers on every grant change and every
 * snapshot change) as this isolate last saw it. Re-read at most every CATALOG_VERSION_TTL_MS, so
 * a warm request costs at most one tiny query and a change is seen well within 2 s.
 */
import { isConnectionError } from "../../../shared/db";
import { log } from "../../../shared/log";
import type { CatalogDb } from "./db";

let known = { version: -1, checkedAt: 0, okAt: 0 };
let staleMaxMs = 60_000;

/** Sets how long the cached catalog may be served while Postgres is unreachable (STALE_CATALOG_MAX_SECONDS). */
export function setStaleMaxSeconds(seconds: number): void {
  staleMaxMs = seconds * 1000;
}

/**
 * The current catalog version, from memory when checked less than `ttlMs` ago. When Postgres is
 * unreachable, the last version seen stays in force for {@link setStaleMaxSeconds} after the last
 * successful check (Postgres is asked again every `ttlMs`); past that, the error is thrown, so
 * requests fail closed.
 */
export async function currentVersion(db: CatalogDb, ttlMs: number): Promise<number> {
  const now = Date.now();
  if (known.version < 0 || now - known.checkedAt > ttlMs) {
    // one read at a time per isolate: concurrent requests share it instead of each opening a
    // connection when the TTL runs out under load
    inflight ??= check(db, now).finally(() => {
      inflight = null;
    });
    await inflight;
  }
  return known.version;
}

let inflight: Promise<void> | null = null;

async function check(db: CatalogDb, now: number): Promise<void> {
  try {
    known = { version: await db.version(), checkedAt: now, okAt: now };
  } catch (err) {
    if (!isConnectionError(err) || known.version < 0 || now - known.okAt > staleMaxMs) throw err;
    if (known.checkedAt === known.okAt) log.warn("catalog: Postgres unreachable; serving the cached catalog", { staleSeconds: staleMaxMs / 1000 });
    known = { ...known, checkedAt: now };
  }
}

/** Makes the next {@link currentVersion} ask Postgres (after this isolate changed something). */
export function forgetVersion(): void {
  known = { ...known, checkedAt: 0 };
}
