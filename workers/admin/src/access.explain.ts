/**
 * The access explorer: what a user sees and why. Uses the same rules MCP applies
 * (shared/repos/access.repo.ts loadAccess, and shared/policy.ts decideTool, the one evaluator the
 * catalog filters with) and the catalog's tool snapshot
 * (server_items) for tool names, and explains each hidden server and tool.
 */
import type { Sql } from "../../../shared/db";
import { decideTool, type Grant } from "../../../shared/policy";
import { loadAccess } from "../../../shared/repos/access.repo";
import { toolNamesByServer } from "../../../shared/repos/servers.repo";
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
  tool?: { query: string; matches: ToolMatch[] };
}

/**
 * Explains the effective access of `email`. With `tool` (a tool name, or `<server>__<tool>`),
 * also says for every server offering such a tool whether the user sees it and why.
 */
export async function explainAccess(sql: Sql, email: string, tool?: string): Promise<AccessExplanation> {
  const access = await loadAccess(sql, email);
  const [userRow] = await sql`SELECT is_admin FROM users WHERE email = ${access.email}`;
  const adminVia = !access.isAdmin ? null : userRow?.is_admin ? "admin flag" : `group ${ADMIN_GROUP}`;
  const allServers = await sql`SELECT id, tenant_id, enabled FROM servers ORDER BY id`;
  const mappings = await sql`SELECT group_name, tenant_id FROM group_tenant_mapping ORDER BY group_name`;
  const tools = await toolNamesByServer(sql);
  const who = access.email;
  const chain = (g: Grant | null, server: string, t?: string) =>
    [who, ...(g ? [`group ${g.group}`, `tenant ${g.tenant}`] : [adminVia ?? "admin"]), `server ${server}`, ...(t ? [`tool ${t}`] : [])].join(" -> ");

  const visible = new Map(access.servers.map((s) => [s.server.id, s]));
  const servers = access.servers.map((entry) => {
    const id = entry.server.id;
    const names = tools.get(id) ?? [];
    const shown: AccessExplanation["servers"][number]["tools"] = [];
    const hidden: AccessExplanation["servers"][number]["hiddenTools"] = [];
    for (const name of names) {
      const decision = decideTool(access, entry, name);
      if (decision.admin) shown.push({ name, qualified: `${id}__${name}`, via: [], chains: [chain(null, id, name)] });
      else if (decision.visible) shown.push({ name, qualified: `${id}__${name}`, via: decision.via, chains: decision.via.map((g) => chain(g, id, name)) });
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
    .filter((s) => !visible.has(String(s.id)))
    .map((s) => {
      const id = String(s.id);
      const tenant = String(s.tenant_id);
      if (!s.enabled) return { id, tenant, reason: `server ${id} is disabled` };
      const granting = mappings.filter((m) => m.tenant_id === tenant).map((m) => String(m.group_name));
      const reason = granting.length
        ? `tenant ${tenant} is granted to group${granting.length > 1 ? "s" : ""} ${granting.join(", ")}; ${who} is in none of them`
        : `tenant ${tenant} is not granted to any group`;
      return { id, tenant, reason: access.groups.length || access.known ? reason : `${who} is not a known user; ${reason}` };
    });

  const out: AccessExplanation = { email: who, known: access.known, admin: access.isAdmin, adminVia, groups: access.groups, servers, hiddenServers };
  if (tool) out.tool = { query: tool, matches: matchTool(tool, tools, servers, hiddenServers) };
  return out;
}

function matchTool(query: string, tools: Map<string, string[]>, servers: AccessExplanation["servers"], hiddenServers: AccessExplanation["hiddenServers"]): ToolMatch[] {
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
      if (shown) return { server, name, visible: true, reason: `visible through ${shown.via.length ? shown.via.map((g) => `group ${g.group}`).join(", ") : "admin rights"}`, chains: shown.chains };
      const hidden = s.hiddenTools.find((t) => t.name === name);
      if (hidden) return { server, name, visible: false, reason: `server ${server} is visible but the tool is hidden: ${hidden.reason}`, chains: [] };
      return { server, name, visible: false, reason: `server ${server} is visible but the catalog has no tool ${name} for it`, chains: [] };
    }
    const h = hiddenServers.find((x) => x.id === server);
    return { server, name, visible: false, reason: h ? h.reason : `no server ${server}`, chains: [] };
  });
}
