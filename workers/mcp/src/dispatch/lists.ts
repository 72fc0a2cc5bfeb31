/**
 * What a list method shows on an endpoint, built once per catalog object, endpoint scope, kind
 * and era (the catalog is immutable and shared: pages of one list slice the same array). Tools
 * and prompts carry this endpoint's names. Modern answers are sorted by name (URI for resources),
 * so a list is the same whatever order upstreams answered in (2026-07-28: deterministic order
 * for client-side and prompt caching), and carry cache hints.
 */
import type { UserCatalog } from "../catalog.client";
import { namedItems } from "./names";

export type ListKind = "tools" | "prompts" | "resources" | "resourceTemplates";

const memo = new WeakMap<UserCatalog, Map<string, Record<string, unknown>[]>>();

const keyOf = (kind: ListKind, item: Record<string, unknown>): string =>
  String(kind === "resources" ? item.uri : kind === "resourceTemplates" ? item.uriTemplate : item.name);

/** Every item a list shows (servers in `failing` left out). Never modify the array. */
export function listedItems(catalog: UserCatalog, scope: string, kind: ListKind, failing: string[], modern: boolean): Record<string, unknown>[] {
  let perCatalog = memo.get(catalog);
  if (!perCatalog) memo.set(catalog, (perCatalog = new Map()));
  const memoKey = `${kind}\u0000${scope}\u0000${modern ? "m" : "l"}\u0000${failing.join(",")}`;
  const hit = perCatalog.get(memoKey);
  if (hit) return hit;
  const left = new Set(failing);
  const servers = scope === "*" ? catalog.servers : catalog.servers.filter((s) => s.id === scope);
  let items: Record<string, unknown>[] =
    kind === "tools" || kind === "prompts"
      ? [...namedItems(catalog, scope, kind).values()].filter((n) => !left.has(n.server.id)).map((n) => ({ ...n.item, name: n.name }))
      : servers.filter((s) => !left.has(s.id)).flatMap((s) => s[kind]);
  if (modern) items = [...items].sort((a, b) => (keyOf(kind, a) < keyOf(kind, b) ? -1 : keyOf(kind, a) > keyOf(kind, b) ? 1 : 0));
  perCatalog.set(memoKey, items);
  return items;
}

/** Cache hints of a modern list result: the user's own list, fresh for `ttlMs` (MCP_LIST_TTL_MS). */
export function cacheHints(ttlMs: number): { ttlMs: number; cacheScope: "private" } {
  return { ttlMs, cacheScope: "private" };
}
