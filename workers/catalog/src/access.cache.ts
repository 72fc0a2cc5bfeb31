/**
 * Isolate-memory cache of each user's access, keyed by email and tagged with the catalog version
 * it was read at. The version (one row, bumped by triggers on every grant change) is re-read at
 * most every CATALOG_VERSION_TTL_MS, so a change is in force well within the 2 s the contract
 * promises, and a warm request costs at most one tiny query.
 */
import type { Sql } from "../../../shared/db";
import { catalogVersion, loadAccess, type Access } from "../../../shared/repos/access.repo";

const entries = new Map<string, Access>();
let known = { version: -1, checkedAt: 0 };
const MAX_ENTRIES = 10_000;

export async function cachedAccess(sql: () => Sql, email: string, ttlMs: number): Promise<Access> {
  const now = Date.now();
  if (now - known.checkedAt > ttlMs) {
    const version = await catalogVersion(sql());
    if (version !== known.version) entries.clear();
    known = { version, checkedAt: now };
  }
  const key = email.toLowerCase();
  const hit = entries.get(key);
  if (hit && hit.version === known.version) return hit;
  const access = await loadAccess(sql(), key);
  if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
  if (access.version === known.version) entries.set(key, access);
  return access;
}
