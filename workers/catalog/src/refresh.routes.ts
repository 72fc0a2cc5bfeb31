/**
 * Refresh and health (internal, behind the service assertion; the admin worker and the mcp worker call these):
 *   POST /internal/refresh/:server  -> ServerHealth after refreshing now; 404 {error:"not_found"}
 *   POST /internal/refresh          -> { refreshed, servers: ServerHealth[] } after refreshing every enabled
 *                                      server (`?due=1`: only those due, as the Cron Trigger does)
 *   GET  /internal/status           -> { servers: ServerHealth[] } every server, enabled or not
 * and the Cron Trigger's handler (`scheduledRefresh`, the worker's `scheduled`).
 * The mcp worker calls the first on an upstream's `notifications/*\/list_changed`.
 */
import type { Hono } from "hono";
import type { ServerHealth } from "../../../shared/catalog.schema";
import type { WaitUntil } from "../../../shared/cache/versioned";
import { withSql, type Sql } from "../../../shared/db";
import { readEnv } from "../../../shared/env";
import type { ServiceVariables } from "../../../shared/middleware/service-auth";
import { listServerRows, loadServer, type Snapshot } from "../../../shared/repos/catalog.repo";
import type { ServerRow } from "../../../shared/schemas";
import { protocolOf } from "./catalog";
import { CatalogEnv } from "./env";
import { listingOf, refreshDue, refreshServer, refreshServers } from "./refresh";
import { cachedSnapshot, nameConflicts } from "./snapshot.cache";
import { currentVersion, versionBounds, type VersionBounds } from "./version.cache";
import { sqlDb } from "./db";

type App = Hono<{ Bindings: Record<string, unknown>; Variables: ServiceVariables }>;

/** One server's health from a snapshot. */
export function healthOf(server: ServerRow, snap: Snapshot, refreshSeconds: number, now = Date.now()): ServerHealth {
  const s = snap.status.get(server.id);
  const items = snap.items.get(server.id);
  return {
    id: server.id,
    tenant: server.tenant_id,
    url: server.url,
    transport: server.transport,
    enabled: server.enabled,
    ok: s ? s.ok : null,
    error: s?.error ?? null,
    ...protocolOf(s),
    serverInfo: s?.server_info ?? null,
    capabilities: s?.capabilities ?? null,
    instructions: s?.instructions ?? null,
    toolCount: s?.tool_count ?? 0,
    counts: {
      tools: items?.tool.length ?? 0,
      prompts: items?.prompt.length ?? 0,
      resources: items?.resource.length ?? 0,
      resourceTemplates: items?.resource_template.length ?? 0,
    },
    latencyMs: s?.latency_ms ?? null,
    refreshedAt: s ? s.refreshed_at.toISOString() : null,
    lastOkAt: s?.last_ok_at ? s.last_ok_at.toISOString() : null,
    stale: !s?.ok || now - s.refreshed_at.getTime() > refreshSeconds * 1000,
    nameConflicts: nameConflicts(server.id, items),
  };
}

async function freshSnapshot(sql: Sql, bounds: VersionBounds, ctx: WaitUntil): Promise<Snapshot> {
  const db = sqlDb(sql);
  return cachedSnapshot(db, await currentVersion(db, bounds, ctx));
}

export function registerRefreshRoutes(app: App): void {
  app.post("/internal/refresh/:server", async (c) => {
    const env = readEnv(CatalogEnv, c.env);
    const id = c.req.param("server");
    const health = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => {
      let server = await loadServer(sql, id);
      if (!server) return null;
      // a change racing the listing supersedes it: list once more with the new row
      if ((await refreshServer(sql, server, listingOf(env))) === null && (server = await loadServer(sql, id))) {
        await refreshServer(sql, server, listingOf(env));
      }
      if (!server) return null;
      return healthOf(
        server,
        await freshSnapshot(sql, versionBounds(env), c.executionCtx),
        env.CATALOG_REFRESH_SECONDS,
      );
    });
    return health ? c.json(health) : c.json({ error: "not_found" }, 404);
  });

  app.post("/internal/refresh", async (c) => {
    const env = readEnv(CatalogEnv, c.env);
    const dueOnly = c.req.query("due") === "1";
    const out = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => {
      let refreshed: number;
      if (dueOnly) {
        refreshed = await refreshDue(sql, { listing: listingOf(env), refreshSeconds: env.CATALOG_REFRESH_SECONDS });
      } else {
        const enabled = (await listServerRows(sql)).filter((s) => s.enabled);
        await refreshServers(sql, enabled, listingOf(env));
        refreshed = enabled.length;
      }
      const [rows, snap] = [await listServerRows(sql), await freshSnapshot(sql, versionBounds(env), c.executionCtx)];
      return { refreshed, servers: rows.map((s) => healthOf(s, snap, env.CATALOG_REFRESH_SECONDS)) };
    });
    return c.json(out);
  });

  app.get("/internal/status", async (c) => {
    const env = readEnv(CatalogEnv, c.env);
    const servers = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => {
      const [rows, snap] = await Promise.all([
        listServerRows(sql),
        freshSnapshot(sql, versionBounds(env), c.executionCtx),
      ]);
      return rows.map((s) => healthOf(s, snap, env.CATALOG_REFRESH_SECONDS));
    });
    return c.json({ servers });
  });
}

/** The timer: re-list due upstreams (Cron Trigger in wrangler.toml; Cloudflare runs it). */
export async function scheduledRefresh(
  _controller: ScheduledController,
  bindings: Record<string, unknown>,
  ctx: ExecutionContext,
): Promise<void> {
  const env = readEnv(CatalogEnv, bindings);
  await withSql(env.DATABASE_URL, ctx, (sql) =>
    refreshDue(sql, { listing: listingOf(env), refreshSeconds: env.CATALOG_REFRESH_SECONDS }),
  );
}
