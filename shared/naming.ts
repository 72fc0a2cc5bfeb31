/**
 * Names of tools and prompts on the aggregated `/mcp` endpoint: `<server>__<name>`.
 *
 * Clients such as Open WebUI turn tool names into function names limited to 64 characters of
 * `[A-Za-z0-9_-]`, so a name that is too long or has other characters is shortened
 * deterministically: `<server>__<readable part>_<8 hex of SHA-256(upstream name)>`. Server ids
 * (`[a-z0-9][a-z0-9-]{0,31}`) never contain `__`, so the server of an exposed name is the part
 * before its first `__`.
 *
 * Two upstream names of one server can still map to one exposed name (a natural name that
 * happens to look like another's shortened form, or a hash collision). Such a collision is
 * refused visibly: the natural name (`<server>__<name>` unchanged) keeps it, the others are left
 * out of `/mcp` and reported as {@link NameConflict}s (the catalog shows them in the server's
 * status and logs them). They stay reachable under their own name on `/mcp/<server>`.
 *
 * There is no reverse mapping: the gateway resolves a name through a lookup built from
 * {@link listAggregated} over the caller's (already filtered) catalog (workers/mcp/src/names.ts),
 * so only names the forward mapping produced resolve, and no other spelling reaches a hidden item.
 */
import { createHash } from "node:crypto";
import type { McpItem, NameConflict } from "./catalog.schema";

/** The longest exposed name (Open WebUI's function-name limit). */
export const MAX_NAME_LENGTH = 64;
/** Between the server id and the upstream name. */
export const NAME_SEPARATOR = "__";
const SAFE = /^[A-Za-z0-9_-]+$/;
const HASH_LENGTH = 8;

export type NamedKind = "tool" | "prompt";

/**
 * The exposed name of an upstream tool or prompt on `/mcp`: `<server>__<name>` when that is at
 * most 64 characters of `[A-Za-z0-9_-]`, else a shortened form ending in `_<8 hex>` (a hash of
 * the upstream name). Pure and deterministic; collisions are handled by {@link assignNames}.
 * @param server server id (a slug, at most 32 characters)
 * @param name the upstream's name, any string
 */
export function aggregatedName(server: string, name: string): string {
  const prefix = server + NAME_SEPARATOR;
  if (SAFE.test(name) && prefix.length + name.length <= MAX_NAME_LENGTH) return prefix + name;
  const room = MAX_NAME_LENGTH - prefix.length - HASH_LENGTH - 1;
  if (room < 0) throw new Error(`server id too long for aggregated names: ${server}`);
  const readable = name.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, room);
  const hash = createHash("sha256").update(name, "utf8").digest("hex").slice(0, HASH_LENGTH);
  return `${prefix}${readable}_${hash}`;
}

/** Whether `exposed` is the unshortened `<server>__<name>`. */
function isNatural(server: string, name: string, exposed: string): boolean {
  return exposed === server + NAME_SEPARATOR + name;
}

export interface NameAssignment {
  /** upstream name -> exposed name, for every name that may be exposed. */
  exposed: Map<string, string>;
  /** exposed name -> upstream name (the reverse of `exposed`). */
  upstream: Map<string, string>;
  /** Names left out because of a collision. */
  conflicts: NameConflict[];
}

/**
 * Assigns exposed names to the tools (or prompts) of one server, refusing collisions: when
 * several upstream names map to one exposed name, the one whose exposed name is natural keeps
 * it and the others are left out; when none is natural, all are left out. Independent of the
 * order of `names`; duplicates count once.
 */
export function assignNames(server: string, names: Iterable<string>, kind: NamedKind = "tool"): NameAssignment {
  const groups = new Map<string, string[]>();
  for (const name of new Set(names)) {
    const e = aggregatedName(server, name);
    const g = groups.get(e);
    if (g) g.push(name);
    else groups.set(e, [name]);
  }
  const exposed = new Map<string, string>();
  const upstream = new Map<string, string>();
  const conflicts: NameConflict[] = [];
  for (const [e, members] of groups) {
    const winner = members.length === 1 ? members[0] : members.find((n) => isNatural(server, n, e));
    if (winner !== undefined) {
      exposed.set(winner, e);
      upstream.set(e, winner);
    }
    for (const n of members) {
      if (n === winner) continue;
      conflicts.push({ kind, name: n, exposedName: e, conflictsWith: members.filter((m) => m !== n).sort() });
    }
  }
  conflicts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { exposed, upstream, conflicts };
}

/** The part of a catalog that naming needs (a `UserCatalog` fits). */
export interface NamedCatalog {
  servers: { id: string; tools: McpItem[]; prompts: McpItem[] }[];
}

function itemsOf(server: NamedCatalog["servers"][number], kind: NamedKind): McpItem[] {
  return kind === "tool" ? server.tools : server.prompts;
}

function namesOf(items: McpItem[]): string[] {
  return items.map((i) => i.name).filter((n): n is string => typeof n === "string");
}

/** The server id an exposed name claims (the part before the first `__`), or null. */
export function serverOfName(name: string): string | null {
  const at = name.indexOf(NAME_SEPARATOR);
  return at > 0 ? name.slice(0, at) : null;
}

/** One item as the aggregated endpoint lists it. */
export interface AggregatedItem {
  /** The exposed `<server>__<name>`. */
  name: string;
  server: string;
  upstreamName: string;
  /** The item as the upstream listed it (its `name` is the upstream name; replace it when listing). */
  item: McpItem;
}

/**
 * Every tool (or prompt) of the catalog under its exposed name, servers in catalog order, items
 * in upstream order; collided names are left out (see {@link assignNames}).
 */
export function listAggregated(catalog: NamedCatalog, kind: NamedKind = "tool"): AggregatedItem[] {
  const out: AggregatedItem[] = [];
  for (const server of catalog.servers) {
    const items = itemsOf(server, kind);
    const { exposed } = assignNames(server.id, namesOf(items), kind);
    const seen = new Set<string>();
    for (const item of items) {
      const n = item.name;
      if (typeof n !== "string" || seen.has(n)) continue;
      seen.add(n);
      const e = exposed.get(n);
      if (e !== undefined) out.push({ name: e, server: server.id, upstreamName: n, item });
    }
  }
  return out;
}
