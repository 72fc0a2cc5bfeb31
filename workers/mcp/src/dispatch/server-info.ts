/**
 * How the gateway presents an endpoint, from the catalog alone (no upstream is contacted: clients
 * such as Open WebUI open a new session every chat turn): the `initialize` result (session era)
 * and the `server/discover` result (2026-07-28). `/mcp/<server>` presents the upstream as it
 * presented itself; `/mcp` presents the gateway with the union of what the servers offer. A
 * caller mapped to no server is told so in `instructions` (and the lists are empty).
 */
import type { Era } from "../../../../shared/mcp/versions";
import { upstreamKind } from "../upstream/upstream";
import type { UserCatalog, CatalogServer } from "../catalog.client";
import { cacheHints } from "./lists";

export const GATEWAY_INFO = { name: "mcp-gateway", title: "MCP Gateway", version: "0.1.0" };

/** The Tasks extension of 2026-07-28. */
export const TASKS_EXTENSION = "io.modelcontextprotocol/tasks";

/** Whether a server speaks the tasks of `era` (session era: the `tasks` capability; modern: the extension). */
function speaksTasks(s: CatalogServer, era: Era): boolean {
  const modern = upstreamKind(s) === "modern";
  if (era === "modern")
    return (
      modern && (s.capabilities?.extensions as Record<string, unknown> | undefined)?.[TASKS_EXTENSION] !== undefined
    );
  return !modern && s.capabilities?.tasks !== undefined;
}

/** What a client may rely on through the gateway, given what the upstream declared. */
function singleCapabilities(s: CatalogServer, era: Era): Record<string, unknown> {
  const up = s.capabilities ?? {};
  const out: Record<string, unknown> = {};
  for (const key of ["tools", "prompts", "resources", "logging", "completions", "experimental"]) {
    if (up[key] !== undefined) out[key] = up[key];
  }
  // tasks pass through only where both ends speak the same tasks
  if (speaksTasks(s, era)) {
    if (era === "modern")
      out.extensions = { [TASKS_EXTENSION]: (up.extensions as Record<string, unknown>)[TASKS_EXTENSION] };
    else out.tasks = up.tasks;
  }
  // the lists come from the catalog, so they exist (possibly empty) even if the upstream is down
  out.tools ??= {};
  return out;
}

function aggregateCapabilities(servers: CatalogServer[], era: Era): Record<string, unknown> {
  const has = (key: string) => servers.some((s) => s.capabilities?.[key] !== undefined);
  const subscribe = servers.some(
    (s) => (s.capabilities?.resources as Record<string, unknown> | undefined)?.subscribe === true,
  );
  // list changes (grants, upstream changes) reach a client on subscriptions/listen (modern) or the GET stream (session era)
  return {
    tools: { listChanged: true },
    prompts: { listChanged: true },
    resources: { listChanged: true, ...(subscribe ? { subscribe: true } : {}) },
    ...(has("logging") ? { logging: {} } : {}),
    ...(has("completions") ? { completions: {} } : {}),
    ...(era === "modern" && servers.some((s) => speaksTasks(s, "modern"))
      ? { extensions: { [TASKS_EXTENSION]: {} } }
      : {}),
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

/** Who answers on an endpoint: the upstream as it named itself on `/mcp/<server>`, the gateway on `/mcp`. */
export function endpointInfo(catalog: UserCatalog, scope: string): Record<string, unknown> {
  if (scope === "*") return GATEWAY_INFO;
  if (catalog.virtual?.id === scope) return { name: scope, version: "virtual" };
  const s = catalog.servers.find((x) => x.id === scope);
  return s?.serverInfo && typeof s.serverInfo.name === "string" ? s.serverInfo : { name: scope, version: "unknown" };
}

/** Capabilities, server info and instructions of an endpoint for a client of `era`. */
function presentation(
  catalog: UserCatalog,
  scope: string,
  era: Era,
): { capabilities: Record<string, unknown>; serverInfo: Record<string, unknown>; instructions?: string } {
  if (scope !== "*" && catalog.virtual?.id !== scope) {
    const s = catalog.servers.find((x) => x.id === scope)!;
    return {
      capabilities: singleCapabilities(s, era),
      serverInfo: endpointInfo(catalog, scope),
      ...(s.instructions ? { instructions: s.instructions } : {}),
    };
  }
  const servers = catalog.servers;
  if (catalog.virtual?.id === scope) {
    // tools only; their list changes reach a client like the aggregate endpoint's
    return {
      capabilities: { tools: { listChanged: true } },
      serverInfo: endpointInfo(catalog, scope),
      ...(catalog.virtual.description ? { instructions: catalog.virtual.description } : {}),
    };
  }
  let instructions: string;
  if (servers.length === 0) instructions = noAccessText(catalog);
  else {
    const parts = servers.map(
      (s) =>
        `## ${s.id}\n${s.instructions?.trim() || (typeof s.serverInfo?.title === "string" ? s.serverInfo.title : "") || "(no instructions)"}`,
    );
    instructions = `Tools and prompts are named <server>__<name>. Servers available: ${servers.map((s) => s.id).join(", ")}.\n\n${parts.join("\n\n")}`;
  }
  return { capabilities: aggregateCapabilities(servers, era), serverInfo: GATEWAY_INFO, instructions };
}

/** The `initialize` result for a catalog, endpoint scope ("*" or a server id) and negotiated version. */
export function initializeResult(catalog: UserCatalog, scope: string, version: string): Record<string, unknown> {
  return { protocolVersion: version, ...presentation(catalog, scope, "legacy") };
}

/**
 * The `server/discover` result: every revision the gateway speaks (it bridges eras, so the
 * upstream's own era does not limit the client), the endpoint's capabilities for a modern client,
 * and cache hints (private: what a user sees is theirs).
 */
export function discoverResult(
  catalog: UserCatalog,
  scope: string,
  supported: readonly string[],
  ttlMs: number,
): Record<string, unknown> {
  const { serverInfo, ...rest } = presentation(catalog, scope, "modern");
  return {
    supportedVersions: [...supported],
    ...rest,
    _meta: { "io.modelcontextprotocol/serverInfo": serverInfo },
    ...cacheHints(ttlMs),
  };
}
