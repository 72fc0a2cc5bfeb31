/**
 * The tools of one server as users are served them (issue 15): the upstream's listing, filtered
 * by the granting groups' rules (on upstream names), then
 * - under review (`hold`, `findings`): each tool in its approved definition only (a tool without
 *   one is not shown), marked `held` while the upstream lists another definition (the mcp worker
 *   refuses calls to a held tool: the upstream no longer serves the approved hash), and pinned
 *   to its approved hash (`pins`: the mcp worker checks the upstream's current definition
 *   against it before forwarding a call, so a change after the last listing is caught too);
 * - overrides: hidden tools left out, new names and descriptions applied. A new name that
 *   collides with another shown name is not applied (the tool keeps its upstream name), so one
 *   name never resolves to two tools.
 * The mcp worker maps shown names back through `renamed` ([shown name, upstream name] pairs: a
 * list, not an object, so a name such as `__proto__` survives every JSON and schema step).
 */
import type { McpItem } from "../../../shared/catalog.schema";
import { log } from "../../../shared/log";
import type { Snapshot } from "../../../shared/repos/catalog.repo";
import type { ServerRow } from "../../../shared/schemas";

export interface CuratedTools {
  tools: McpItem[];
  /** Upstream names of tools shown in their approved definition while the upstream lists another. */
  held: string[];
  /** Under review: [upstream name, approved hash] of each tool shown (the mcp worker checks the upstream against it at call time). */
  pins: [string, string][];
  /** [shown name, upstream name] of renamed tools. */
  renamed: [string, string][];
}

/** The served tools of `server` for a user whose rules allow `allowed` (upstream names). */
export function curatedTools(server: ServerRow, snap: Snapshot, allowed: (name: string) => boolean): CuratedTools {
  const live = snap.items.get(server.id)?.tool ?? [];
  const hashes = snap.toolHashes?.get(server.id);
  const approved = snap.approved?.get(server.id);
  const overrides = snap.overrides?.get(server.id);
  const reviewed = server.review === "hold" || server.review === "findings";
  const held: string[] = [];
  const pins: [string, string][] = [];
  const picked: { upstream: string; def: McpItem }[] = [];
  for (const t of live) {
    const name = t.name;
    if (typeof name !== "string" || !allowed(name)) continue;
    if (overrides?.get(name)?.hidden) continue;
    let def = t;
    if (reviewed) {
      const a = approved?.get(name);
      if (!a) continue;
      def = a.definition;
      pins.push([name, a.hash]);
      if (a.hash !== hashes?.get(name)) held.push(name);
    }
    picked.push({ upstream: name, def });
  }
  if (!overrides?.size) return { tools: picked.map((p) => p.def), held, pins, renamed: [] };
  const taken = new Set(picked.filter((p) => !overrides.get(p.upstream)?.name).map((p) => p.upstream));
  const renamed = new Map<string, string>();
  const tools = picked.map(({ upstream, def }) => {
    const o = overrides.get(upstream);
    if (!o) return def;
    let shown = upstream;
    if (o.name && o.name !== upstream) {
      if (taken.has(o.name))
        log.warn("tool rename not applied: the name is taken on this server", {
          server: server.id,
          tool: upstream,
          name: o.name,
        });
      else shown = o.name;
    }
    taken.add(shown);
    if (shown !== upstream) renamed.set(shown, upstream);
    return shown === upstream && o.description === null
      ? def
      : { ...def, name: shown, ...(o.description !== null ? { description: o.description } : {}) };
  });
  return { tools, held, pins, renamed: [...renamed] };
}
