/**
 * The internal catalog API (the public edge never routes here; index.ts requires a service
 * assertion from the mcp or admin worker on every /internal/* route):
 *   GET /internal/catalog/:email                  -> UserCatalog (shared/catalog.schema.ts)
 *   GET /internal/catalog/:email/servers/:server  -> CatalogServer, or VirtualCatalog when :server is a
 *                                                    virtual server the user is granted, or 404
 *                                                    {error:"not_found"} when the user may not use it
 *                                                    or it does not exist
 *   GET /internal/access/:email                   -> Access (shared/repos/access.repo.ts), each server
 *                                                    row with `headerNames` instead of its headers
 *   GET /internal/stats                           -> { catalog: { answered, notModified } } this isolate's
 *                                                    counts of the two catalog routes' 200s and 304s
 *
 * The two catalog routes answer with a strong `ETag` and honour `If-None-Match` (304, no body):
 * the mcp worker keeps the parsed catalog and revalidates it (workers/mcp/src/catalog.client.ts).
 */
import type { Hono } from "hono";
import { readEnv } from "../../../shared/env";
import type { ServiceVariables } from "../../../shared/middleware/service-auth";
import { Email, ServerId } from "../../../shared/schemas";
import { cachedAccess } from "./access.cache";
import { versionBounds } from "./version.cache";
import { userCatalogAnswer, userServerAnswer, userVirtualAnswer, type TaggedAnswer } from "./catalog";
import { pooledDb } from "./db";
import { CatalogEnv } from "./env";

type App = Hono<{ Bindings: Record<string, unknown>; Variables: ServiceVariables }>;

const badEmail = { error: "bad_request", field: "email", message: "must be an email address" };

/** Per isolate: catalog answers given in full and as 304 (GET /internal/stats). */
const stats = { answered: 0, notModified: 0 };

/** Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 prescribes for it). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}

/** 304 when the caller holds this answer already, else the answer as JSON; both with its ETag. */
function tagged<T>(answer: TaggedAnswer<T>, ifNoneMatch: string | undefined): Response {
  const headers = { etag: answer.etag, "cache-control": "no-cache" };
  if (matches(ifNoneMatch, answer.etag)) {
    stats.notModified++;
    return new Response(null, { status: 304, headers });
  }
  stats.answered++;
  return new Response(JSON.stringify(answer.body()), {
    status: 200,
    headers: { ...headers, "content-type": "application/json" },
  });
}

export function registerCatalogRoutes(app: App): void {
  app.get("/internal/catalog/:email", async (c) => {
    const env = readEnv(CatalogEnv, c.env);
    const email = Email.safeParse(c.req.param("email"));
    if (!email.success) return c.json(badEmail, 400);
    const answer = await userCatalogAnswer(
      { env, ctx: c.executionCtx as ExecutionContext, db: pooledDb(c.env) },
      email.data,
    );
    return tagged(answer, c.req.header("if-none-match"));
  });

  app.get("/internal/catalog/:email/servers/:server", async (c) => {
    const env = readEnv(CatalogEnv, c.env);
    const email = Email.safeParse(c.req.param("email"));
    if (!email.success) return c.json(badEmail, 400);
    const id = ServerId.safeParse(c.req.param("server"));
    if (!id.success) return c.json({ error: "not_found" }, 404);
    const cc = { env, ctx: c.executionCtx as ExecutionContext, db: pooledDb(c.env) };
    const answer = await userServerAnswer(cc, email.data, id.data);
    if (answer) return tagged(answer, c.req.header("if-none-match"));
    // not a server this user may use: a virtual server they are granted, or nothing
    const virtual = await userVirtualAnswer(cc, email.data, id.data);
    return virtual ? tagged(virtual, c.req.header("if-none-match")) : c.json({ error: "not_found" }, 404);
  });

  app.get("/internal/access/:email", async (c) => {
    const env = readEnv(CatalogEnv, c.env);
    const access = await cachedAccess(pooledDb(c.env), c.req.param("email"), versionBounds(env), c.executionCtx);
    // the rows' stored headers stay inside: names only, as the admin API shows them
    const servers = access.servers.map(({ server: { headers, ...row }, ...entry }) => ({
      ...entry,
      server: { ...row, headerNames: Object.keys(headers).sort() },
    }));
    return c.json({ ...access, servers });
  });

  app.get("/internal/stats", (c) => c.json({ catalog: { ...stats } }));
}
