/**
 * Names on an endpoint: upstream names on `/mcp/<server>`, `<server>__<name>` on `/mcp`
 * (shared/naming.ts, which also refuses collisions visibly). The lookup is built only from the
 * items the caller can see, so a hidden or unknown name resolves to nothing under any spelling.
 * A tool whose `x-mcp-header` annotations break the 2026-07-28 rules is left out (the spec has an
 * HTTP client reject such a definition), logged once per catalog object.
 */
import { log } from "../../../../shared/log";
import { listAggregated } from "../../../../shared/naming";
import type { CatalogServer, UserCatalog } from "../catalog.client";
import { paramHeaders } from "../upstream/mcp-headers";

export interface NamedItem {
  server: CatalogServer;
  /** The item as the upstream listed it. */
  item: Record<string, unknown>;
  /** Its name upstream. */
  upstreamName: string;
  /** Its name on this endpoint. */
  name: string;
}

/** Per catalog object (they are cached and shared: see catalog.client.ts): the lookups built from it. */
const memo = new WeakMap<UserCatalog, Map<string, Map<string, NamedItem>>>();

/**
 * The visible tools or prompts of an endpoint (scope: a server id, or "*" for `/mcp`) by name.
 * Built once per catalog object, scope and kind (the catalog is immutable): never modify the map.
 */
export function namedItems(
  catalog: UserCatalog,
  scope: string,
  kind: "tools" | "prompts",
): ReadonlyMap<string, NamedItem> {
  let perCatalog = memo.get(catalog);
  if (!perCatalog) memo.set(catalog, (perCatalog = new Map()));
  const key = `${kind}\u0000${scope}`;
  let named = perCatalog.get(key);
  if (!named) perCatalog.set(key, (named = build(catalog, scope, kind)));
  return named;
}

/** Whether an item may be offered: a tool's header annotations must be valid. */
function offerable(server: CatalogServer, item: Record<string, unknown>, kind: "tools" | "prompts"): boolean {
  if (kind !== "tools" || item.inputSchema === undefined) return true;
  const decls = paramHeaders(item.inputSchema);
  if (Array.isArray(decls)) return true;
  log.warn("tool left out: invalid x-mcp-header", {
    server: server.id,
    tool: String(item.name),
    reason: decls.invalid,
  });
  return false;
}

/** The upstream name of a tool shown as `shown` on `server` (overrides and virtual servers rename). */
export function upstreamNameOf(server: CatalogServer, shown: string, kind: "tools" | "prompts"): string {
  if (kind !== "tools" || !server.renamed?.length) return shown;
  let back = renames.get(server);
  if (!back) renames.set(server, (back = new Map(server.renamed)));
  return back.get(shown) ?? shown;
}

/** Per catalog server object: its renames as a map (built once; the objects are immutable). */
const renames = new WeakMap<CatalogServer, Map<string, string>>();

function build(catalog: UserCatalog, scope: string, kind: "tools" | "prompts"): Map<string, NamedItem> {
  const out = new Map<string, NamedItem>();
  if (catalog.virtual && catalog.virtual.id === scope) {
    // a virtual server: its names as the catalog gave them (unique across its servers)
    for (const server of catalog.servers) {
      for (const item of server[kind]) {
        if (typeof item.name === "string" && !out.has(item.name) && offerable(server, item, kind))
          out.set(item.name, { server, item, upstreamName: upstreamNameOf(server, item.name, kind), name: item.name });
      }
    }
    return out;
  }
  if (scope === "*") {
    const byId = new Map(catalog.servers.map((s) => [s.id, s]));
    for (const a of listAggregated(catalog as never, kind === "tools" ? "tool" : "prompt")) {
      const server = byId.get(a.server)!;
      if (offerable(server, a.item, kind))
        out.set(a.name, {
          server,
          item: a.item,
          upstreamName: upstreamNameOf(server, a.upstreamName, kind),
          name: a.name,
        });
    }
    return out;
  }
  const server = catalog.servers.find((s) => s.id === scope);
  for (const item of server?.[kind] ?? []) {
    if (typeof item.name === "string" && !out.has(item.name) && offerable(server!, item, kind))
      out.set(item.name, {
        server: server!,
        item,
        upstreamName: upstreamNameOf(server!, item.name, kind),
        name: item.name,
      });
  }
  return out;
}
