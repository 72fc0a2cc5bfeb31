/**
 * Isolate-memory cache of each user's access, keyed by email and tagged with the catalog version
 * it was read at (see version.cache.ts): a grant change bumps the version, and the next request after
 * the version check reloads that user's access.
 */
import type { WaitUntil } from "../../../shared/cache/versioned";
import type { Access } from "../../../shared/repos/access.repo";
import type { CatalogDb } from "./db";
import { currentVersion, type VersionBounds } from "./version.cache";

const entries = new Map<string, Access>();
const MAX_ENTRIES = 10_000;

/** The user's access at the current catalog version. */
export async function cachedAccess(
  db: CatalogDb,
  email: string,
  bounds: VersionBounds,
  ctx: WaitUntil,
): Promise<Access> {
  const version = await currentVersion(db, bounds, ctx);
  const key = email.trim().toLowerCase();
  const hit = entries.get(key);
  if (hit && hit.version >= version) return hit;
  const access = await db.access(key);
  if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
  entries.set(key, access);
  return access;
}
