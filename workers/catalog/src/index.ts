/** Catalog worker: who may use what, answered from an isolate cache backed by Postgres. */
import { Hono } from "hono";
import { createSql, withLazySql } from "../../../shared/db";
import { readEnv } from "../../../shared/env";
import { onError } from "../../../shared/http";
import { catalogVersion } from "../../../shared/repos/access.repo";
import { cachedAccess } from "./access.cache";
import { CatalogEnv } from "./env";

const app = new Hono<{ Bindings: Record<string, unknown> }>();
app.onError(onError);

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

app.get("/internal/access/:email", async (c) => {
  const env = readEnv(CatalogEnv, c.env);
  const access = await withLazySql(env.DATABASE_URL, c.executionCtx, (sql) => cachedAccess(sql, c.req.param("email"), env.CATALOG_VERSION_TTL_MS));
  return c.json(access);
});

app.notFound((c) => c.json({ error: "not_found", message: `no route for ${c.req.path}` }, 404));

export default app;
