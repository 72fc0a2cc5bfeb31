/**
 * Isolate-memory cache of every server's snapshot (status and items), shared by all users and
 * reloaded only when the catalog version moves past the one it was read at. Per-user filtering
 * is done on top of it for each request (catalog.ts).
 */
import type { NameConflict } from "../../../shared/catalog.schema";
import { assignNames } from "../../../shared/naming";
import type { ItemsByKind, Snapshot, StatusRow } from "../../../shared/repos/catalog.repo";

let cached: Snapshot | null = null;

/** The snapshot at (at least) `version`. */
export async function cachedSnapshot(db: { snapshot(): Promise<Snapshot> }, version: number): Promise<Snapshot> {
  if (cached && cached.version >= version) return cached;
  const snap = await db.snapshot();
  if (!cached || snap.version >= cached.version) cached = snap;
  return snap;
}

const conflictMemo = new WeakMap<ItemsByKind, NameConflict[]>();

/** The server's tools/prompts that cannot get an aggregated `/mcp` name (memoised per snapshot). */
export function nameConflicts(serverId: string, items: ItemsByKind | undefined): NameConflict[] {
  if (!items) return [];
  const hit = conflictMemo.get(items);
  if (hit) return hit;
  const names = (list: ItemsByKind["tool"]) =>
    list.map((i) => i.name).filter((n): n is string => typeof n === "string");
  const conflicts = [
    ...assignNames(serverId, names(items.tool), "tool").conflicts,
    ...assignNames(serverId, names(items.prompt), "prompt").conflicts,
  ];
  conflictMemo.set(items, conflicts);
  return conflicts;
}

/** Records a refresh this isolate just wrote, so an unchanged refresh (no version bump) shows too. */
export function patchStatus(status: StatusRow): void {
  if (!cached) return;
  const prev = cached.status.get(status.server_id);
  if (!prev || prev.refreshed_at.getTime() <= status.refreshed_at.getTime())
    cached.status.set(status.server_id, status);
}
