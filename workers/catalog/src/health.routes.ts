/** `GET /healthz`: open (no service assertion); says whether Postgres answers, nothing more. */
import type { Hono } from "hono";
import { createSql } from "../../../shared/db";
import { readEnv } from "../../../shared/env";
import { catalogVersion } from "../../../shared/repos/access.repo";
import { CatalogEnv } from "./env";

export function registerHealthRoutes<E extends { Bindings: Record<string, unknown> }>(app: Hono<E>): void {
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
}
