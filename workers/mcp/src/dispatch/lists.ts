/**
 * What a list method shows on an endpoint, built once per catalog object, endpoint scope and kind
 * (the catalog is immutable and shared: pages of one list slice the same array). Tools and
 * prompts carry this endpoint's names. The order is deterministic, as 2026-07-28 asks for
 * client-side and prompt caching: servers in the catalog's order (by id), each server's items in
 * the order its stored snapshot keeps (the upstream's). Modern answers carry cache hints.
 */
import { scopedServers, type UserCatalog } from "../catalog.client";
import { namedItems } from "./names";

export type ListKind = "tools" | "prompts" | "resources" | "resourceTemplates";

const memo = new WeakMap<UserCatalog, Map<string, Record<string, unknown>[]>>();

/** Every item a list shows (servers in `failing` left out). Never modify the array. */
export function listedItems(
  catalog: UserCatalog,
  scope: string,
  kind: ListKind,
  failing: string[],
): Record<string, unknown>[] {
  let perCatalog = memo.get(catalog);
  if (!perCatalog) memo.set(catalog, (perCatalog = new Map()));
  const memoKey = `${kind}\u0000${scope}\u0000${failing.join(",")}`;
  const hit = perCatalog.get(memoKey);
  if (hit) return hit;
  const left = new Set(failing);
  const servers = scopedServers(catalog, scope);
  const items: Record<string, unknown>[] =
    kind === "tools" || kind === "prompts"
      ? [...namedItems(catalog, scope, kind).values()]
          .filter((n) => !left.has(n.server.id))
          .map((n) => ({ ...n.item, name: n.name }))
      : servers.filter((s) => !left.has(s.id)).flatMap((s) => s[kind]);
  perCatalog.set(memoKey, items);
  return items;
}

/** Cache hints of a modern list result: the user's own list, fresh for `ttlMs` (MCP_LIST_TTL_MS). */
export function cacheHints(ttlMs: number): { ttlMs: number; cacheScope: "private" } {
  return { ttlMs, cacheScope: "private" };
}
