/**
 * `GET /healthz`: open (no service assertion); says whether Postgres answers, nothing more. It also
 * starts the background listing of servers not listed yet (refresh.ts `sweepInBackground`).
 */
import type { Hono } from "hono";
import { createSql } from "../../../shared/db";
import { readEnv } from "../../../shared/env";
import { catalogVersion } from "../../../shared/repos/access.repo";
import { CatalogEnv } from "./env";
import { listingOf, sweepInBackground } from "./refresh";

export function registerHealthRoutes<E extends { Bindings: Record<string, unknown> }>(app: Hono<E>): void {
  app.get("/healthz", async (c) => {
    const env = readEnv(CatalogEnv, c.env);
    const sql = createSql(env.DATABASE_URL, { connectTimeout: 2 });
    try {
      const version = await catalogVersion(sql);
      // Postgres answers: list the servers not listed yet (at start), in the background
      sweepInBackground(c.executionCtx as ExecutionContext, env.DATABASE_URL, {
        listing: listingOf(env),
        refreshSeconds: env.CATALOG_REFRESH_SECONDS,
      });
      return c.json({ status: "ok", database: "ok", catalogVersion: version });
    } catch {
      return c.json({ status: "unavailable", database: "unreachable" }, 503);
    } finally {
      c.executionCtx.waitUntil(sql.end({ timeout: 2 }).catch(() => {}));
    }
  });
}
