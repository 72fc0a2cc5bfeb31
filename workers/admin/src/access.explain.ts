/**
 * The access explorer: what a user sees and why. Uses the same rules MCP applies
 * (shared/repos/access.repo.ts loadAccess, and shared/policy.ts decideTool, the one evaluator the
 * catalog filters with) and the catalog's tool snapshot
 * (server_items) for tool names, and explains each hidden server and tool.
 */
import type { Sql } from "../../../shared/db";
import { decideTool, type Grant } from "../../../shared/policy";
import { loadAccess } from "../../../shared/repos/access.repo";
import { loadCuration } from "../../../shared/repos/review.repo";
import { hasAdminFlag } from "../../../shared/repos/admin-users.repo";
import { listTenantGrants } from "../../../shared/repos/groups.repo";
import { listServerStates, toolNamesByServer } from "../../../shared/repos/servers.repo";
import { listVirtualServers } from "../../../shared/repos/virtual.repo";
import { ADMIN_GROUP } from "../../../shared/schemas";

export interface ToolMatch {
  server: string;
  name: string;
  visible: boolean;
  reason: string;
  chains: string[];
}

export interface AccessExplanation {
  email: string;
  known: boolean;
  admin: boolean;
  adminVia: string | null;
  groups: string[];
  servers: {
    id: string;
    tenant: string;
    grants: Grant[];
    chains: string[];
    tools: { name: string; qualified: string; via: Grant[]; chains: string[] }[];
    hiddenTools: { name: string; reason: string }[];
  }[];
  hiddenServers: { id: string; tenant: string; reason: string }[];
  /** Virtual servers (issue 15): whether the user is granted each, and each tool's verdict through its real server. */
  virtualServers: {
    id: string;
    granted: boolean;
    reason: string;
    tools: { name: string; server: string; tool: string; visible: boolean; reason: string }[];
  }[];
  tool?: { query: string; matches: ToolMatch[] };
}

/**
 * Explains the effective access of `email`. With `tool` (a tool name, or `<server>__<tool>`),
 * also says for every server offering such a tool whether the user sees it and why.
 */
export async function explainAccess(sql: Sql, email: string, tool?: string): Promise<AccessExplanation> {
  const access = await loadAccess(sql, email);
  const adminVia = !access.isAdmin
    ? null
    : (await hasAdminFlag(sql, access.email))
      ? "admin flag"
      : `group ${ADMIN_GROUP}`;
  const allServers = await listServerStates(sql);
  const grants = await listTenantGrants(sql);
  const tools = await toolNamesByServer(sql);
  const [virtuals, { approved, overrides }] = await Promise.all([listVirtualServers(sql), loadCuration(sql)]);
  const review = new Map(allServers.map((s) => [s.id, s.review]));
  /** Why curation hides a tool from everyone (override, review), or null. */
  const curated = (server: string, name: string): string | null => {
    if (overrides.get(server)?.get(name)?.hidden) return "hidden for everyone (override)";
    if (review.get(server) !== "auto" && !approved.get(server)?.has(name))
      return `server ${server} is under review and this tool has no approved definition yet`;
    return null;
  };
  const who = access.email;
  const chain = (g: Grant | null, server: string, t?: string) =>
    [
      who,
      ...(g ? [`group ${g.group}`, `tenant ${g.tenant}`] : [adminVia ?? "admin"]),
      `server ${server}`,
      ...(t ? [`tool ${t}`] : []),
    ].join(" -> ");

  const visible = new Map(access.servers.map((s) => [s.server.id, s]));
  const servers = access.servers.map((entry) => {
    const id = entry.server.id;
    const names = tools.get(id) ?? [];
    const shown: AccessExplanation["servers"][number]["tools"] = [];
    const hidden: AccessExplanation["servers"][number]["hiddenTools"] = [];
    for (const name of names) {
      const off = curated(id, name);
      if (off) {
        hidden.push({ name, reason: off });
        continue;
      }
      const decision = decideTool(access, entry, name);
      if (decision.admin) shown.push({ name, qualified: `${id}__${name}`, via: [], chains: [chain(null, id, name)] });
      else if (decision.visible)
        shown.push({
          name,
          qualified: `${id}__${name}`,
          via: decision.via,
          chains: decision.via.map((g) => chain(g, id, name)),
        });
      else hidden.push({ name, reason: decision.reasons.join("; ") });
    }
    return {
      id,
      tenant: entry.server.tenant_id,
      grants: entry.grants,
      chains: access.isAdmin ? [chain(null, id)] : entry.grants.map((g) => chain(g, id)),
      tools: shown,
      hiddenTools: hidden,
    };
  });

  const hiddenServers = allServers
    .filter((s) => !visible.has(s.id))
    .map(({ id, tenant, enabled }) => {
      if (!enabled) return { id, tenant, reason: `server ${id} is disabled` };
      const granting = grants.filter((g) => g.tenant === tenant).map((g) => g.group);
      const reason = granting.length
        ? `tenant ${tenant} is granted to group${granting.length > 1 ? "s" : ""} ${granting.join(", ")}; ${who} is in none of them`
        : `tenant ${tenant} is not granted to any group`;
      return {
        id,
        tenant,
        reason: access.groups.length || access.known ? reason : `${who} is not a known user; ${reason}`,
      };
    });

  const virtualServers = virtuals.map((v) => {
    const via = v.groups.filter((g) => access.groups.includes(g));
    const granted = access.isAdmin || via.length > 0;
    const reason = access.isAdmin
      ? `granted by admin rights (${adminVia})`
      : granted
        ? `granted through group${via.length > 1 ? "s" : ""} ${via.join(", ")}`
        : v.groups.length
          ? `granted to group${v.groups.length > 1 ? "s" : ""} ${v.groups.join(", ")}; ${who} is in none of them`
          : "not granted to any group";
    return {
      id: v.id,
      granted,
      reason,
      tools: v.tools.map((t) => {
        const name = t.name ?? t.tool;
        const s = servers.find((x) => x.id === t.server);
        const real = s?.tools.find((x) => x.name === t.tool);
        const verdict = !granted
          ? "the virtual server is not granted"
          : !s
            ? `server ${t.server} is not visible: ${hiddenServers.find((h) => h.id === t.server)?.reason ?? `no server ${t.server}`}`
            : real
              ? `visible through server ${t.server} (${real.chains[0] ?? ""})`
              : `tool ${t.tool} of server ${t.server} is hidden: ${s.hiddenTools.find((h) => h.name === t.tool)?.reason ?? "the catalog has no such tool"}`;
        return { name, server: t.server, tool: t.tool, visible: granted && !!real, reason: verdict };
      }),
    };
  });

  const out: AccessExplanation = {
    email: who,
    known: access.known,
    admin: access.isAdmin,
    adminVia,
    groups: access.groups,
    servers,
    hiddenServers,
    virtualServers,
  };
  if (tool) out.tool = { query: tool, matches: matchTool(tool, tools, servers, hiddenServers) };
  return out;
}

function matchTool(
  query: string,
  tools: Map<string, string[]>,
  servers: AccessExplanation["servers"],
  hiddenServers: AccessExplanation["hiddenServers"],
): ToolMatch[] {
  const q = query.trim();
  const candidates: { server: string; name: string }[] = [];
  for (const [server, names] of tools) {
    for (const name of names) if (name === q || `${server}__${name}` === q) candidates.push({ server, name });
  }
  // a qualified name for a server the catalog has not listed yet still gets an answer
  const sep = q.indexOf("__");
  if (candidates.length === 0 && sep > 0) candidates.push({ server: q.slice(0, sep), name: q.slice(sep + 2) });
  return candidates.map(({ server, name }) => {
    const s = servers.find((x) => x.id === server);
    if (s) {
      const shown = s.tools.find((t) => t.name === name);
      if (shown)
        return {
          server,
          name,
          visible: true,
          reason: `visible through ${shown.via.length ? shown.via.map((g) => `group ${g.group}`).join(", ") : "admin rights"}`,
          chains: shown.chains,
        };
      const hidden = s.hiddenTools.find((t) => t.name === name);
      if (hidden)
        return {
          server,
          name,
          visible: false,
          reason: `server ${server} is visible but the tool is hidden: ${hidden.reason}`,
          chains: [],
        };
      return {
        server,
        name,
        visible: false,
        reason: `server ${server} is visible but the catalog has no tool ${name} for it`,
        chains: [],
      };
    }
    const h = hiddenServers.find((x) => x.id === server);
    return { server, name, visible: false, reason: h ? h.reason : `no server ${server}`, chains: [] };
  });
}
