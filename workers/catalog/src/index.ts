/**
 * Catalog worker: who may use what, and what each upstream offers - answered from isolate caches
 * (version-checked against Postgres) over snapshots it refreshes from the upstreams. Internal
 * only: never routed by the public edge, and every /internal/* request must carry a service
 * assertion from the mcp or admin worker (its port is on the network the upstreams share).
 * `/healthz` stays open: it says whether Postgres answers, nothing more.
 */
import { Hono } from "hono";
import { pgPoolClass } from "../../../shared/pool/durable-object";
import { readEnv } from "../../../shared/env";
import { jsonNotFound, onError } from "../../../shared/http";
import { metricsRoute, observe } from "../../../shared/middleware/observe";
import { requireService, type ServiceVariables } from "../../../shared/middleware/service-auth";
import { registerCatalogRoutes } from "./catalog.routes";
import { registerConnectionRoutes } from "./connections.routes";
import { registerCredentialsRoutes } from "./credentials.routes";
import { catalogOps } from "./db";
import { CatalogEnv } from "./env";
import { registerHealthRoutes } from "./health.routes";
import { registerRefreshRoutes, scheduledRefresh } from "./refresh.routes";

const app = new Hono<{ Bindings: Record<string, unknown>; Variables: ServiceVariables }>();
app.onError(onError);
app.use("*", observe("catalog"));
app.get("/metrics", metricsRoute("catalog"));

registerHealthRoutes(app);
app.use(
  "/internal/*",
  requireService({
    self: "catalog",
    callers: ["mcp", "admin"],
    secret: (env) => readEnv(CatalogEnv, env).SERVICE_SECRET,
  }),
);
registerCatalogRoutes(app);
registerCredentialsRoutes(app);
registerConnectionRoutes(app);
registerRefreshRoutes(app);

app.notFound(jsonNotFound);

/** The catalog's Postgres pool (shared/pool): bound as PG_POOL in wrangler.toml. */
export class PgPool extends pgPoolClass(catalogOps, "catalog") {}

export default { fetch: app.fetch, scheduled: scheduledRefresh };
