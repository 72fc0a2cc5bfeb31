/**
 * Catalog worker: who may use what, and what each upstream offers - answered from isolate caches
 * (version-checked against Postgres) over snapshots it refreshes from the upstreams. Internal
 * only: never routed by the public edge, and every /internal/* request must carry a service
 * assertion from the mcp or admin worker (its port is on the network the upstreams share).
 * `/healthz` stays open: it says whether Postgres answers, nothing more.
 */
import { Hono } from "hono";
import { createSql, withSql } from "../../../shared/db";
import { pgPoolClass } from "../../../shared/pool/durable-object";
import { readEnv } from "../../../shared/env";
import { onError } from "../../../shared/http";
import { metricsRoute, observe } from "../../../shared/middleware/observe";
import { requireService, type ServiceVariables } from "../../../shared/middleware/service-auth";
import { catalogVersion } from "../../../shared/repos/access.repo";
import { registerCatalogRoutes } from "./catalog.routes";
import { registerCredentialsRoutes } from "./credentials.routes";
import { catalogOps } from "./db";
import { CatalogEnv } from "./env";
import { listingOf, refreshDue } from "./refresh";
import { registerRefreshRoutes } from "./refresh.routes";
import { setStaleMaxSeconds } from "./version";

const app = new Hono<{ Bindings: Record<string, unknown>; Variables: ServiceVariables }>();
app.onError(onError);
app.use("*", observe("catalog"));
app.get("/metrics", metricsRoute("catalog"));

app.get("/healthz", async (c) => {
  const env = readEnv(CatalogEnv, c.env);
  const sql = createSql(env.DATABASE_URL, { connectTimeout: 2 });
  try {
    const version = await catalogVersion(sql);
    return c.json({ status: "ok", database: "ok", catalogVersion: version });
  } catch {
    return c.json({ status: "unavailable", database: "unreachable" }, 503);
  } finally {
    c.executionCtx.waitUntil(sql.end({ timeout: 2 }).catch(() => {}));
  }
});

app.use("/internal/*", requireService({ self: "catalog", callers: ["mcp", "admin"], secret: (env) => readEnv(CatalogEnv, env).SERVICE_SECRET }));
app.use("/internal/*", async (c, next) => {
  setStaleMaxSeconds(readEnv(CatalogEnv, c.env).STALE_CATALOG_MAX_SECONDS);
  await next();
});
registerCatalogRoutes(app);
registerCredentialsRoutes(app);
registerRefreshRoutes(app);

app.notFound((c) => c.json({ error: "not_found", message: `no route for ${c.req.path}` }, 404));

/** The timer: re-list due upstreams (Cron Trigger in wrangler.toml; Cloudflare runs it). */
async function scheduled(_controller: ScheduledController, bindings: Record<string, unknown>, ctx: ExecutionContext): Promise<void> {
  const env = readEnv(CatalogEnv, bindings);
  await withSql(env.DATABASE_URL, ctx, (sql) => refreshDue(sql, { listing: listingOf(env), refreshSeconds: env.CATALOG_REFRESH_SECONDS }));
}

/** The catalog's Postgres pool (shared/pool): bound as PG_POOL in wrangler.toml. */
export class PgPool extends pgPoolClass(catalogOps, "catalog") {}

export default { fetch: app.fetch, scheduled };
