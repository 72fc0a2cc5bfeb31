/**
 * The catalog worker's internal API shapes (JSON over the `CATALOG` service binding), shared so
 * the mcp and admin workers type what they read without importing another worker.
 *
 *   GET  /internal/catalog/:email                  -> UserCatalog
 *   GET  /internal/catalog/:email/servers/:server  -> CatalogServer | 404 {error:"not_found"}
 *   GET  /internal/credentials/:email/servers/:server[?refresh=1] -> ServerCredentials | 404 {error:"not_found"}
 *                                                    | 409 {error:"not_connected", reason} (per-user servers)
 *                                                    (mcp worker only; the one answer with secrets)
 *   GET  /internal/status                          -> { servers: ServerHealth[] }
 *   POST /internal/refresh/:server                 -> ServerHealth | 404 {error:"not_found"}
 *   POST /internal/refresh[?due=1]                 -> { refreshed: number, servers: ServerHealth[] }
 *                                                    (all enabled servers; `due=1`: only those due)
 *
 * Every /internal/* request must carry a service assertion (shared/service-auth.ts) from the mcp
 * or admin worker; without one the answer is 401.
 *
 * The two catalog answers carry a strong `ETag`; a request with `If-None-Match` naming it gets
 * 304 and no body (the mcp worker revalidates its cached copy this way).
 *
 * Items (`tools`, `prompts`, `resources`, `resourceTemplates`) are the upstream's own objects,
 * exactly as it listed them (MCP `Tool`, `Prompt`, `Resource`, `ResourceTemplate`).
 */

/** An upstream item as listed: at least a name (tools, prompts) or uri/uriTemplate (resources). */
export type McpItem = Record<string, unknown> & { name?: string; uri?: string; uriTemplate?: string };

export type ItemKind = "tool" | "prompt" | "resource" | "resource_template";

/** Held prompts, resources and templates, by kind (keys as in {@link itemKey}). */
export type HeldItems = Partial<Record<Exclude<ItemKind, "tool">, string[]>>;

export const ITEM_KINDS: readonly ItemKind[] = ["tool", "prompt", "resource", "resource_template"];

/** The key of an item within its kind: name (tools, prompts), uri, or uriTemplate. */
export function itemKey(kind: ItemKind, item: McpItem): string | undefined {
  const v = kind === "resource" ? item.uri : kind === "resource_template" ? item.uriTemplate : item.name;
  return typeof v === "string" ? v : undefined;
}

/** A name the aggregated `/mcp` endpoint cannot expose (see shared/naming.ts). */
export interface NameConflict {
  kind: "tool" | "prompt";
  /** The upstream name left out of `/mcp` (still reachable by its own name on `/mcp/<server>`). */
  name: string;
  /** The `<server>__<name>` form it would have had. */
  exposedName: string;
  /** The other upstream names that map to the same exposed name. */
  conflictsWith: string[];
}

/** Health of one upstream as the catalog last saw it. */
export interface CatalogStatus {
  /** Whether the last refresh succeeded. False also before the first refresh finished. */
  ok: boolean;
  /** Why the last refresh failed (null when ok). */
  error: string | null;
  /** ISO time of the last refresh attempt, null when never refreshed. */
  refreshedAt: string | null;
  /** ISO time of the last successful refresh. */
  lastOkAt: string | null;
  /**
   * True when the items may not reflect the upstream now: the last refresh failed (items are
   * those of `lastOkAt`, or none), or the snapshot is older than CATALOG_REFRESH_SECONDS.
   */
  stale: boolean;
  latencyMs: number | null;
  /** Tools/prompts left out of the aggregated `/mcp` names, computed over all of the server's items. */
  nameConflicts: NameConflict[];
}

/**
 * How the catalog last found an upstream speaking (MCP 2026-07-28 versioning: the era is a
 * property of the server, detected by probing `server/discover`, then `initialize`, then the
 * deprecated HTTP+SSE transport, and remembered). All null before the first successful listing;
 * a failed listing keeps the last detected values.
 */
export interface UpstreamProtocol {
  /** `modern`: 2026-07-28 or later (stateless, per-request `_meta`); `legacy`: `initialize` sessions. */
  era: "modern" | "legacy" | null;
  /**
   * The transport it answered on: `streamable-http`, or `sse` (the deprecated HTTP+SSE transport,
   * legacy only) - also when the server row says `streamable-http` and the catalog fell back.
   */
  detectedTransport: "streamable-http" | "sse" | null;
  /**
   * The version the catalog used: for `modern` the newest of `supportedVersions` the SDK speaks
   * (e.g. "2026-07-28"); for `legacy` the version `initialize` negotiated.
   */
  protocolVersion: string | null;
  /** Modern: `server/discover`'s `supportedVersions`; legacy: `[protocolVersion]`. */
  supportedVersions: string[] | null;
  /** ISO time a probe last decided the era. */
  eraCheckedAt: string | null;
  /** Modern only: `ttlMs` / `cacheScope` the server gave its discover and list results. */
  cacheHints: Partial<
    Record<
      "server/discover" | "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list",
      { ttlMs?: number; cacheScope?: "public" | "private" }
    >
  > | null;
}

/** One server a user may use, with what its upstream offers (tools filtered per user). */
export interface CatalogServer extends UpstreamProtocol {
  id: string;
  tenant: string;
  url: string;
  transport: "streamable-http" | "sse";
  /**
   * Whether the server has secret headers to inject (null: none), and their version, which moves
   * whenever they change. The values are never in a catalog answer: the forwarding worker asks
   * `GET /internal/credentials/...` for them ({@link ServerCredentials}).
   */
  credentials: {
    version: string;
    /**
     * Set when each user brings their own credential (shared/credentials.ts): the answer differs per
     * user and changes when they connect or a token is refreshed, so it is fetched for each forward.
     */
    perUser?: "per-user-token" | "per-user-oauth";
  } | null;
  /** The group -> tenant links granting this server to the user (empty for admins by role). */
  grants: { group: string; tenant: string }[];
  status: CatalogStatus;
  serverInfo: Record<string, unknown> | null;
  capabilities: Record<string, unknown> | null;
  instructions: string | null;
  /** `auto`: items as listed; `hold`/`findings`: tools, prompts, resources and templates in their approved definitions only. */
  review: "auto" | "hold" | "findings";
  /**
   * Only the tools the user's groups allow (admins: all), as served: approved definitions under
   * review, overrides applied (hidden left out, new names and descriptions).
   */
  tools: McpItem[];
  /** Upstream names of tools under review whose upstream lists another definition than the approved one: calls are refused. */
  held: string[];
  /**
   * Under review only: [upstream name, approved hash] of each tool shown. Before a call is
   * forwarded the mcp worker lists the tool upstream and forwards only while it still hashes so
   * (a change between the catalog's listing and the call cannot slip through). Pairs, like `renamed`.
   */
  pins?: [string, string][];
  /** [shown name, upstream name] of renamed tools (overrides, virtual servers); pairs, so any name survives JSON. */
  renamed: [string, string][];
  /**
   * Under review, prompts, resources and templates whose upstream lists another definition than
   * the approved one (by name, uri, uriTemplate): `prompts/get` and reads of them are refused.
   * Absent when none is.
   */
  heldItems?: HeldItems;
  /** Visible whenever the server is visible (tool rules do not apply to prompts). */
  prompts: McpItem[];
  /** Visible whenever the server is visible. */
  resources: McpItem[];
  /** Visible whenever the server is visible. */
  resourceTemplates: McpItem[];
}

/** What the mcp worker injects into its requests to one server for one user. */
export interface ServerCredentials {
  server: string;
  /** {@link CatalogServer.credentials}'s version of these headers. */
  version: string;
  /** The secret headers, opened. */
  headers: Record<string, string>;
}

/** Everything one user may use. An unknown user or one without grants gets `servers: []`. */
export interface UserCatalog {
  email: string;
  /** Whether the user exists (a users row). */
  known: boolean;
  isAdmin: boolean;
  groups: string[];
  /** catalog_state.version the answer was built at. */
  version: number;
  servers: CatalogServer[];
}

/** One server's health for the admin view (every server, enabled or not). */
export interface ServerHealth extends UpstreamProtocol {
  id: string;
  tenant: string;
  url: string;
  transport: "streamable-http" | "sse";
  enabled: boolean;
  ok: boolean | null;
  error: string | null;
  serverInfo: Record<string, unknown> | null;
  capabilities: Record<string, unknown> | null;
  instructions: string | null;
  toolCount: number;
  counts: { tools: number; prompts: number; resources: number; resourceTemplates: number };
  latencyMs: number | null;
  refreshedAt: string | null;
  lastOkAt: string | null;
  stale: boolean;
  nameConflicts: NameConflict[];
}
