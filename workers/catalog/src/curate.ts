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
 *
 * Prompts, resources and resource templates are reviewed the same way (migration 0016): under
 * review each is served in its approved definition only and marked held while the upstream lists
 * another (`heldItems`: the mcp worker refuses `prompts/get` and reads of it). Tool rules and
 * overrides do not apply to them, and they carry no pin: unlike a tool call, what `prompts/get`
 * or a read returns is content, not the definition that was reviewed.
 */
import { itemKey, type HeldItems, type ItemKind, type McpItem } from "../../../shared/catalog.schema";
import { log } from "../../../shared/log";
import type { Snapshot } from "../../../shared/repos/catalog.repo";
import { kindKey } from "../../../shared/repos/review.repo";
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

const reviewed = (server: ServerRow) => server.review === "hold" || server.review === "findings";

/** The served tools of `server` for a user whose rules allow `allowed` (upstream names). */
export function curatedTools(server: ServerRow, snap: Snapshot, allowed: (name: string) => boolean): CuratedTools {
  const live = snap.items.get(server.id)?.tool ?? [];
  const hashes = snap.toolHashes?.get(server.id);
  const approved = snap.approved?.get(server.id);
  const overrides = snap.overrides?.get(server.id);
  const underReview = reviewed(server);
  const held: string[] = [];
  const pins: [string, string][] = [];
  const picked: { upstream: string; def: McpItem }[] = [];
  for (const t of live) {
    const name = t.name;
    if (typeof name !== "string" || !allowed(name)) continue;
    if (overrides?.get(name)?.hidden) continue;
    let def = t;
    if (underReview) {
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

/**
 * The prompts, resources or resource templates of one server as users are served them: as listed,
 * or under review each in its approved definition only (one without is not shown), with the keys
 * (name, uri, uriTemplate) of those the upstream now lists in another definition (`held`).
 */
export function curatedItems(
  server: ServerRow,
  snap: Snapshot,
  kind: Exclude<ItemKind, "tool">,
): { items: McpItem[]; held: string[] } {
  const live = snap.items.get(server.id)?.[kind] ?? [];
  if (!reviewed(server)) return { items: live, held: [] };
  const approved = snap.approvedItems?.get(server.id);
  const hashes = snap.itemHashes?.get(server.id);
  const items: McpItem[] = [];
  const held: string[] = [];
  for (const item of live) {
    const key = itemKey(kind, item);
    const a = key === undefined ? undefined : approved?.get(kindKey(kind, key));
    if (!a) continue;
    items.push(a.definition);
    if (a.hash !== hashes?.get(kindKey(kind, key!))) held.push(key!);
  }
  return { items, held };
}

/** The served prompts, resources and templates of `server`, and the held ones (absent when none is). */
export function curatedOthers(
  server: ServerRow,
  snap: Snapshot,
): { prompts: McpItem[]; resources: McpItem[]; resourceTemplates: McpItem[]; heldItems?: HeldItems } {
  const prompt = curatedItems(server, snap, "prompt");
  const resource = curatedItems(server, snap, "resource");
  const template = curatedItems(server, snap, "resource_template");
  const heldItems: HeldItems = {
    ...(prompt.held.length ? { prompt: prompt.held } : {}),
    ...(resource.held.length ? { resource: resource.held } : {}),
    ...(template.held.length ? { resource_template: template.held } : {}),
  };
  return {
    prompts: prompt.items,
    resources: resource.items,
    resourceTemplates: template.items,
    ...(Object.keys(heldItems).length ? { heldItems } : {}),
  };
}
