/**
 * The catalog worker as the gateway sees it (service binding CATALOG, every request carrying a
 * service assertion: {@link catalogFetcher}): per user, the servers they may use with the items
 * they may see, and a refresh trigger. Upstream secrets are not in these answers; see
 * upstream.credentials.ts.
 *
 * Catalogs are kept parsed in isolate memory (bounded, least recently used out first) and used
 * without a hop for MCP_CATALOG_TTL_MS (default 500 ms) after the catalog last confirmed them;
 * after that a request revalidates with the catalog's ETag (a 304 costs no parse). A grant
 * change is therefore in force within MCP_CATALOG_TTL_MS + the catalog's CATALOG_VERSION_TTL_MS.
 * Cached catalogs are shared by the isolate's requests: callers must never modify them.
 */
import { z } from "zod";
import { BoundedLru } from "../../../shared/cache/lru";
import { readEnv } from "../../../shared/env";
import { log } from "../../../shared/log";
import { cacheRequests } from "../../../shared/observe/families";
import { withServiceAssertion } from "../../../shared/service-auth";
import { McpEnv } from "./env";

const Item = z.record(z.string(), z.unknown());

export const CatalogServer = z.object({
  id: z.string(),
  tenant: z.string().optional(),
  url: z.string(),
  transport: z.string().default("streamable-http"),
  /** Secret headers to fetch before forwarding (null: none), and their version (upstream.credentials.ts). */
  credentials: z.object({ version: z.string() }).passthrough().nullish(),
  status: z
    .object({
      ok: z.boolean().optional(),
      error: z.string().nullish(),
      refreshedAt: z.string().nullish(),
      stale: z.boolean().optional(),
    })
    .passthrough()
    .nullish(),
  serverInfo: z.record(z.string(), z.unknown()).nullish(),
  capabilities: z.record(z.string(), z.unknown()).nullish(),
  instructions: z.string().nullish(),
  protocolVersion: z.string().nullish(),
  // how the catalog last found the upstream speaking (shared/catalog.schema.ts UpstreamProtocol)
  era: z.enum(["modern", "legacy"]).nullish(),
  detectedTransport: z.enum(["streamable-http", "sse"]).nullish(),
  supportedVersions: z.array(z.string()).nullish(),
  eraCheckedAt: z.string().nullish(),
  cacheHints: z
    .record(
      z.string(),
      z.object({ ttlMs: z.number().optional(), cacheScope: z.enum(["public", "private"]).optional() }),
    )
    .nullish(),
  tools: z.array(Item).default([]),
  /** Upstream names of tools held for review: the upstream lists another definition than the approved one (calls refused). */
  held: z.array(z.string()).optional(),
  /**
   * `auto`: tools as listed; `hold`/`findings`: approved definitions only, each call checked
   * against its pin. Any string: a mode this worker does not know is treated as reviewed (fails
   * closed) rather than failing the whole catalog answer.
   */
  review: z.string().optional(),
  /** Under review: [upstream name, approved hash] of the tools shown (bridge/pin.ts checks the upstream against them). */
  pins: z.array(z.tuple([z.string(), z.string()])).optional(),
  /** [shown name, upstream name] of renamed tools (overrides, virtual servers). */
  renamed: z.array(z.tuple([z.string(), z.string()])).optional(),
  prompts: z.array(Item).default([]),
  resources: z.array(Item).default([]),
  resourceTemplates: z.array(Item).default([]),
  /** Under review: prompts (names), resources (uris) and templates (uriTemplates) held like tools (prompts/get and reads refused). */
  heldItems: z
    .object({
      prompt: z.array(z.string()).optional(),
      resource: z.array(z.string()).optional(),
      resource_template: z.array(z.string()).optional(),
    })
    .optional(),
});
export type CatalogServer = z.infer<typeof CatalogServer>;

export const UserCatalog = z.object({
  /** Set on the catalog of a virtual server's endpoint (`/mcp/<virtual>`): its servers hold only its tools, named as it names them. */
  virtual: z.object({ id: z.string(), description: z.string().optional() }).optional(),
  email: z.string(),
  known: z.boolean().default(true),
  isAdmin: z.boolean().default(false),
  groups: z.array(z.string()).default([]),
  version: z.number().optional(),
  servers: z.array(CatalogServer),
});
export type UserCatalog = z.infer<typeof UserCatalog>;

/** The catalog's answer for a virtual server (workers/catalog/src/catalog.ts VirtualCatalog). */
const VirtualAnswer = z.object({
  virtual: z.object({ id: z.string(), description: z.string().optional() }),
  servers: z.array(CatalogServer),
});

/** Whether an endpoint shows several servers: `/mcp`, or a virtual server's `/mcp/<virtual>`. */
export function isAggregate(catalog: UserCatalog, scope: string): boolean {
  return scope === "*" || (catalog.virtual !== undefined && catalog.virtual.id === scope);
}

/** The servers an endpoint shows: all of the catalog's on an aggregate endpoint, else the one named. */
export function scopedServers(catalog: UserCatalog, scope: string): CatalogServer[] {
  return isAggregate(catalog, scope) ? catalog.servers : catalog.servers.filter((s) => s.id === scope);
}

export class CatalogUnavailable extends Error {}

/**
 * The catalog binding (CATALOG) of this request's environment, with every request carrying a
 * service assertion from the mcp worker (SERVICE_SECRET): the only way this worker talks to the
 * catalog, which refuses any /internal/* request without one.
 */
export function catalogFetcher(bindings: Record<string, unknown>): Fetcher {
  const catalog = bindings.CATALOG as Fetcher | undefined;
  if (!catalog || typeof catalog.fetch !== "function")
    throw new Error("CATALOG binding missing: the mcp worker's config must bind the catalog worker");
  return withServiceAssertion(catalog, readEnv(McpEnv, bindings).SERVICE_SECRET, "mcp", "catalog");
}

function base(): string {
  return "https://catalog.internal";
}

interface Cached {
  value: UserCatalog;
  /** The catalog's ETag for it (null: the answer had none, e.g. a 404; revalidated by a full fetch). */
  etag: string | null;
  /** When the catalog last confirmed it (the time the request was sent; epoch ms). */
  checkedAt: number;
  /** Characters of JSON it was parsed from (its weight in the cache). */
  size: number;
}

/** Catalogs kept per isolate at most, and the most JSON (characters) they were parsed from, in total. */
export const CATALOG_CACHE_MAX_ENTRIES = 1000;
export const CATALOG_CACHE_MAX_CHARS = 8 * 1024 * 1024;

/** Per isolate: parsed catalog answers by request path (the user's e-mail, and the server for a one-server answer). */
const cache = new BoundedLru<Cached>(CATALOG_CACHE_MAX_ENTRIES, CATALOG_CACHE_MAX_CHARS);

/** Per isolate: how catalogs were obtained - cached within the TTL, revalidated by a 304, fetched in full. */
export const catalogCacheStats = { fresh: 0, revalidated: 0, fetched: 0 };

/** Forgets this isolate's cached catalogs (tests). */
export function clearCatalogCache(): void {
  cache.clear();
}

/**
 * One catalog answer through the per-isolate cache: used as is when the catalog confirmed it less
 * than `ttlMs` ago; else asked for with `If-None-Match` (a 304 keeps the parsed value and renews
 * its time, a 200 replaces it). 400/404 mean "nothing for this user" (`missing()`); any other
 * failure is {@link CatalogUnavailable} and the cached value is not used (the catalog decides how
 * long it may answer while Postgres is away, and fails closed after that). Only plain data is
 * kept: each request does its own fetch (workerd ties I/O to the request that started it).
 */
async function cachedAnswer(
  catalog: Fetcher,
  path: string,
  ttlMs: number,
  parse: (json: unknown) => UserCatalog | string,
  missing: () => UserCatalog,
): Promise<UserCatalog> {
  const hit = cache.get(path);
  const sentAt = Date.now();
  if (hit && sentAt - hit.checkedAt < ttlMs) {
    catalogCacheStats.fresh++;
    cacheRequests.inc({ cache: "catalog", result: "hit" });
    return hit.value;
  }
  let res: Response;
  try {
    res = await catalog.fetch(`${base()}${path}`, hit?.etag ? { headers: { "if-none-match": hit.etag } } : undefined);
  } catch (err) {
    throw new CatalogUnavailable(`catalog unreachable: ${String((err as Error).message ?? err)}`);
  }
  if (res.status === 304 && hit) {
    await res.body?.cancel().catch(() => {});
    catalogCacheStats.revalidated++;
    cacheRequests.inc({ cache: "catalog", result: "not_modified" });
    hit.checkedAt = Math.max(hit.checkedAt, sentAt);
    // evicted meanwhile: keep it again (a newer answer another request stored stays)
    if (!cache.get(path)) cache.set(path, hit, hit.size);
    return hit.value;
  }
  if (res.status === 404 || res.status === 400) {
    await res.body?.cancel().catch(() => {});
    const value = missing();
    cache.set(path, { value, etag: null, checkedAt: sentAt, size: 1 }, 1);
    return value;
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new CatalogUnavailable(`catalog answered ${res.status}`);
  }
  const text = await res.text().catch(() => "");
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // reported as malformed below
  }
  const value = parse(json);
  if (typeof value === "string") throw new CatalogUnavailable(`catalog answer malformed: ${value}`);
  catalogCacheStats.fetched++;
  cacheRequests.inc({ cache: "catalog", result: "miss" });
  cache.set(path, { value, etag: res.headers.get("etag"), checkedAt: sentAt, size: text.length }, text.length);
  return value;
}

/**
 * The user's catalog (only servers and items they may use), from the per-isolate cache within
 * `ttlMs` (MCP_CATALOG_TTL_MS), else revalidated with the catalog worker. An e-mail the catalog
 * refuses (400) or knows nothing about gets an empty catalog. Throws {@link CatalogUnavailable}.
 * The value is shared by the isolate's requests: never modify it.
 */
export async function fetchUserCatalog(catalog: Fetcher, email: string, ttlMs: number): Promise<UserCatalog> {
  return cachedAnswer(
    catalog,
    `/internal/catalog/${encodeURIComponent(email)}`,
    ttlMs,
    (json) => {
      const p = UserCatalog.safeParse(json);
      return p.success ? p.data : (p.error.issues[0]?.message ?? "invalid");
    },
    () => ({ email, known: false, isAdmin: false, groups: [], servers: [] }),
  );
}

/**
 * The part of the user's catalog about one server, as a catalog with that server only (or none
 * when the user may not use it): what a request naming one server needs, without transferring
 * every other server's items. Cached like {@link fetchUserCatalog}. Throws {@link CatalogUnavailable}.
 */
export async function fetchUserServer(
  catalog: Fetcher,
  email: string,
  server: string,
  ttlMs: number,
): Promise<UserCatalog> {
  return cachedAnswer(
    catalog,
    `/internal/catalog/${encodeURIComponent(email)}/servers/${encodeURIComponent(server)}`,
    ttlMs,
    (json) => {
      if (json && typeof json === "object" && "virtual" in json) {
        const v = VirtualAnswer.safeParse(json);
        return v.success
          ? { email, known: true, isAdmin: false, groups: [], virtual: v.data.virtual, servers: v.data.servers }
          : (v.error.issues[0]?.message ?? "invalid");
      }
      const p = CatalogServer.safeParse(json);
      return p.success
        ? { email, known: true, isAdmin: false, groups: [], servers: [p.data] }
        : (p.error.issues[0]?.message ?? "invalid");
    },
    () => ({ email, known: true, isAdmin: false, groups: [], servers: [] }),
  );
}

/**
 * Asks the catalog to re-list an upstream now and waits until it has (an upstream announced a list
 * change to a stream that must report it). Not debounced beyond one request at a time per server
 * and isolate. Never throws.
 */
export async function refreshNow(catalog: Fetcher, server: string): Promise<void> {
  try {
    const res = await catalog.fetch(`${base()}/internal/refresh/${encodeURIComponent(server)}`, { method: "POST" });
    await res.body?.cancel();
    lastRefresh.set(server, Date.now());
  } catch (err) {
    log.warn("catalog refresh failed", { server, message: String((err as Error).message ?? err) });
  }
}

const lastRefresh = new Map<string, number>();
/** At most one refresh request per server and isolate in this window (ms). */
const REFRESH_DEBOUNCE_MS = 5_000;

/**
 * Asks the catalog to re-list an upstream now (after it announced a list change). Debounced per
 * isolate: a new upstream session typically announces changes right after it opens. Never throws.
 */
export async function requestRefresh(catalog: Fetcher, server: string): Promise<void> {
  const now = Date.now();
  if (now - (lastRefresh.get(server) ?? 0) < REFRESH_DEBOUNCE_MS) return;
  lastRefresh.set(server, now);
  if (lastRefresh.size > 1000) lastRefresh.clear();
  try {
    const res = await catalog.fetch(`${base()}/internal/refresh/${encodeURIComponent(server)}`, { method: "POST" });
    await res.body?.cancel();
  } catch (err) {
    log.warn("catalog refresh failed", { server, message: String((err as Error).message ?? err) });
  }
}
