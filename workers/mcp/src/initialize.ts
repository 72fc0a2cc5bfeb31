/**
 * The initialize result, from the catalog alone (no upstream is contacted: clients such as Open
 * WebUI open a new session every chat turn). `/mcp/<server>` presents the upstream as it
 * presented itself; `/mcp` presents the gateway with the union of what the servers offer.
 * A caller mapped to no server is told so in `instructions` (and the lists are empty).
 */
import type { UserCatalog, CatalogServer } from "./catalog.client";

export const GATEWAY_INFO = { name: "mcp-gateway", title: "MCP Gateway", version: "0.1.0" };

/** What a client may rely on through the gateway, given what the upstream declared. */
function singleCapabilities(s: CatalogServer): Record<string, unknown> {
  const up = s.capabilities ?? {};
  const out: Record<string, unknown> = {};
  for (const key of ["tools", "prompts", "resources", "logging", "completions", "tasks", "experimental"]) {
    if (up[key] !== undefined) out[key] = up[key];
  }
  // the lists come from the catalog, so they exist (possibly empty) even if the upstream is down
  out.tools ??= {};
  return out;
}

function aggregateCapabilities(servers: CatalogServer[]): Record<string, unknown> {
  const has = (key: string) => servers.some((s) => s.capabilities?.[key] !== undefined);
  const subscribe = servers.some((s) => (s.capabilities?.resources as Record<string, unknown> | undefined)?.subscribe === true);
  return {
    tools: {},
    prompts: {},
    resources: subscribe ? { subscribe: true } : {},
    ...(has("logging") ? { logging: {} } : {}),
    ...(has("completions") ? { completions: {} } : {}),
  };
}

function noAccessText(catalog: UserCatalog): string {
  const who = catalog.email;
  const why = !catalog.known
    ? "your account is not registered with the gateway"
    : catalog.groups.length === 0
      ? "your account belongs to no group"
      : `your groups (${catalog.groups.join(", ")}) grant no tenant with an enabled server`;
  return `No MCP servers are available to ${who}: ${why}. Ask an administrator of the MCP gateway to add you to a group that is mapped to a tenant.`;
}

/** The `initialize` result for a catalog, endpoint scope ("*" or a server id) and negotiated version. */
export function initializeResult(catalog: UserCatalog, scope: string, version: string): Record<string, unknown> {
  if (scope !== "*") {
    const s = catalog.servers.find((x) => x.id === scope)!;
    const info = s.serverInfo && typeof s.serverInfo.name === "string" ? s.serverInfo : { name: s.id, version: "unknown" };
    return {
      protocolVersion: version,
      capabilities: singleCapabilities(s),
      serverInfo: info,
      ...(s.instructions ? { instructions: s.instructions } : {}),
    };
  }
  const servers = catalog.servers;
  let instructions: string;
  if (servers.length === 0) instructions = noAccessText(catalog);
  else {
    const parts = servers.map((s) => `## ${s.id}\n${s.instructions?.trim() || (typeof s.serverInfo?.title === "string" ? s.serverInfo.title : "") || "(no instructions)"}`);
    instructions = `Tools and prompts are named <server>__<name>. Servers available: ${servers.map((s) => s.id).join(", ")}.\n\n${parts.join("\n\n")}`;
  }
  return { protocolVersion: version, capabilities: aggregateCapabilities(servers), serverInfo: GATEWAY_INFO, instructions };
}
