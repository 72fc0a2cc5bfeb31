/**
 * The catalog version (catalog_state.version: bumped by triggers on every grant change and every
 * snapshot change) as this isolate last saw it. Re-read at most every CATALOG_VERSION_TTL_MS, so
 * a warm request costs at most one tiny query and a change is seen well within 2 s.
 */
import type { Sql } from "../../../shared/db";
import { catalogVersion } from "../../../shared/repos/access.repo";

let known = { version: -1, checkedAt: 0 };

/** The current catalog version, from memory when checked less than `ttlMs` ago. */
export async function currentVersion(sql: () => Sql, ttlMs: number): Promise<number> {
  const now = Date.now();
  if (known.version < 0 || now - known.checkedAt > ttlMs) {
    known = { version: await catalogVersion(sql()), checkedAt: now };
  }
  return known.version;
}

/** Makes the next {@link currentVersion} ask Postgres (after this isolate changed something). */
export function forgetVersion(): void {
  known = { version: known.version, checkedAt: 0 };
}
