/**
 * The catalog worker as the gateway sees it (service binding CATALOG): per user, the servers they
 * may use with the items they may see, the upstream's stored headers, and a refresh trigger.
 */
import { z } from "zod";
import { log } from "../../../shared/log";

const Item = z.record(z.string(), z.unknown());

export const CatalogServer = z.object({
  id: z.string(),
  tenant: z.string().optional(),
  url: z.string(),
  transport: z.string().default("streamable-http"),
  headers: z.record(z.string(), z.string()).default({}),
  status: z
    .object({ ok: z.boolean().optional(), error: z.string().nullish(), refreshedAt: z.string().nullish(), stale: z.boolean().optional() })
    .passthrough()
    .nullish(),
  serverInfo: z.record(z.string(), z.unknown()).nullish(),
  capabilities: z.record(z.string(), z.unknown()).nullish(),
  instructions: z.string().nullish(),
  protocolVersion: z.string().nullish(),
  tools: z.array(Item).default([]),
  prompts: z.array(Item).default([]),
  resources: z.array(Item).default([]),
  resourceTemplates: z.array(Item).default([]),
});
export type CatalogServer = z.infer<typeof CatalogServer>;

export const UserCatalog = z.object({
  email: z.string(),
  known: z.boolean().default(true),
  isAdmin: z.boolean().default(false),
  groups: z.array(z.string()).default([]),
  version: z.number().optional(),
  servers: z.array(CatalogServer),
});
export type UserCatalog = z.infer<typeof UserCatalog>;

export class CatalogUnavailable extends Error {}

function base(): string {
  return "https://catalog.internal";
}

/** The user's catalog (only servers and items they may use). Throws {@link CatalogUnavailable}. */
export async function fetchUserCatalog(catalog: Fetcher, email: string): Promise<UserCatalog> {
  let res: Response;
  try {
    res = await catalog.fetch(`${base()}/internal/catalog/${encodeURIComponent(email)}`);
  } catch (err) {
    throw new CatalogUnavailable(`catalog unreachable: ${String((err as Error).message ?? err)}`);
  }
  if (!res.ok) throw new CatalogUnavailable(`catalog answered ${res.status}`);
  const parsed = UserCatalog.safeParse(await res.json().catch(() => null));
  if (!parsed.success) throw new CatalogUnavailable(`catalog answer malformed: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/**
 * The part of the user's catalog about one server, as a catalog with that server only (or none
 * when the user may not use it): what a request naming one server needs, without transferring
 * every other server's items. Throws {@link CatalogUnavailable}.
 */
export async function fetchUserServer(catalog: Fetcher, email: string, server: string): Promise<UserCatalog> {
  let res: Response;
  try {
    res = await catalog.fetch(`${base()}/internal/catalog/${encodeURIComponent(email)}/servers/${encodeURIComponent(server)}`);
  } catch (err) {
    throw new CatalogUnavailable(`catalog unreachable: ${String((err as Error).message ?? err)}`);
  }
  if (res.status === 404 || res.status === 400) {
    await res.body?.cancel().catch(() => {});
    return { email, known: true, isAdmin: false, groups: [], servers: [] };
  }
  if (!res.ok) throw new CatalogUnavailable(`catalog answered ${res.status}`);
  const parsed = CatalogServer.safeParse(await res.json().catch(() => null));
  if (!parsed.success) throw new CatalogUnavailable(`catalog answer malformed: ${parsed.error.issues[0]?.message}`);
  return { email, known: true, isAdmin: false, groups: [], servers: [parsed.data] };
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
