/**
 * The internal catalog API (service bindings only; the public edge never routes here):
 *   GET /internal/catalog/:email                  -> UserCatalog (shared/catalog.schema.ts)
 *   GET /internal/catalog/:email/servers/:server  -> CatalogServer, or 404 {error:"not_found"}
 *                                                    when the user may not use it or it does not exist
 *   GET /internal/access/:email                   -> Access (shared/repos/access.repo.ts)
 */
import type { Hono } from "hono";
import { readEnv } from "../../../shared/env";
import { Email, ServerId } from "../../../shared/schemas";
import { cachedAccess } from "./access.cache";
import { userCatalog, userServer } from "./catalog";
import { pooledDb } from "./db";
import { CatalogEnv } from "./env";

type App = Hono<{ Bindings: Record<string, unknown> }>;

const badEmail = { error: "bad_request", field: "email", message: "must be an email address" };

export function registerCatalogRoutes(app: App): void {
  app.get("/internal/catalog/:email", async (c) => {
    const env = readEnv(CatalogEnv, c.env);
    const email = Email.safeParse(c.req.param("email"));
    if (!email.success) return c.json(badEmail, 400);
    const catalog = await userCatalog({ env, ctx: c.executionCtx as ExecutionContext, db: pooledDb(c.env) }, email.data);
    return c.json(catalog);
  });

  app.get("/internal/catalog/:email/servers/:server", async (c) => {
    const env = readEnv(CatalogEnv, c.env);
    const email = Email.safeParse(c.req.param("email"));
    if (!email.success) return c.json(badEmail, 400);
    const id = ServerId.safeParse(c.req.param("server"));
    if (!id.success) return c.json({ error: "not_found" }, 404);
    const server = await userServer({ env, ctx: c.executionCtx as ExecutionContext, db: pooledDb(c.env) }, email.data, id.data);
    return server ? c.json(server) : c.json({ error: "not_found" }, 404);
  });

  app.get("/internal/access/:email", async (c) => {
    const env = readEnv(CatalogEnv, c.env);
    const access = await cachedAccess(pooledDb(c.env), c.req.param("email"), env.CATALOG_VERSION_TTL_MS, c.executionCtx);
    return c.json(access);
  });
}
