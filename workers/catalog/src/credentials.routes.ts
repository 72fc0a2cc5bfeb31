/**
 * The one internal answer that carries secrets (mcp worker only):
 *   GET /internal/credentials/:email/servers/:server -> ServerCredentials (shared/catalog.schema.ts):
 *       the server's secret headers, opened, and their version; 404 {error:"not_found"} when the
 *       user may not use the server (or it does not exist), exactly like the catalog's own answer.
 *
 * The mcp worker asks for it when it forwards to that server for that user, and keeps it briefly
 * (workers/mcp/src/upstream/credentials.ts). For a per-user server (shared/credentials.ts) the
 * answer adds the user's own token (connections.ts; `?refresh=1` after the upstream refused it),
 * or is 409 `not_connected` when they have none. Catalog answers never carry the values, so an
 * answer cached, logged or leaked elsewhere holds none; and a caller must name a user who may
 * use the server. Answers are `no-store`.
 */
import type { Hono } from "hono";
import type { ServerCredentials } from "../../../shared/catalog.schema";
import { readEnv } from "../../../shared/env";
import type { ServiceVariables } from "../../../shared/middleware/service-auth";
import { openServerHeaders } from "../../../shared/repos/servers.repo";
import { Email, ServerId } from "../../../shared/schemas";
import { log } from "../../../shared/log";
import { keyRing, SecretsError } from "../../../shared/secrets";
import { isPerUser } from "../../../shared/credentials";
import { cachedAccess } from "./access.cache";
import { versionBounds } from "./version.cache";
import { NotConnected, RefreshUnavailable, userCredential } from "./connections";
import { credentialsOf } from "./catalog";
import { pooledDb } from "./db";
import { CatalogEnv } from "./env";

type App = Hono<{ Bindings: Record<string, unknown>; Variables: ServiceVariables }>;

const notFound = { error: "not_found" };

export function registerCredentialsRoutes(app: App): void {
  app.get("/internal/credentials/:email/servers/:server", async (c) => {
    if (c.get("caller") !== "mcp")
      return c.json({ error: "forbidden", message: "only the mcp worker may read credentials" }, 403);
    const env = readEnv(CatalogEnv, c.env);
    const email = Email.safeParse(c.req.param("email"));
    const id = ServerId.safeParse(c.req.param("server"));
    if (!email.success || !id.success) return c.json(notFound, 404);
    const access = await cachedAccess(pooledDb(c.env), email.data, versionBounds(env), c.executionCtx);
    const entry = access.servers.find((e) => e.server.id === id.data);
    if (!entry) return c.json(notFound, 404);
    let headers: Record<string, string>;
    try {
      headers = await openServerHeaders(await keyRing(env), entry.server.id, entry.server.headers);
    } catch (err) {
      if (!(err instanceof SecretsError)) throw err;
      log.error("stored secret headers do not open", { server: entry.server.id, message: err.message });
      return c.json(
        {
          error: "secrets_unavailable",
          message: "the server's secret headers cannot be opened; see the catalog's log",
        },
        500,
      );
    }
    if (isPerUser(entry.server.credentials)) {
      try {
        const own = await userCredential(
          env.DATABASE_URL,
          c.executionCtx,
          await keyRing(env),
          email.data,
          entry.server,
          c.req.query("refresh") === "1",
        );
        // the user's header replaces a shared one of the same name, whatever its case
        const name = Object.keys(own.headers)[0]!.toLowerCase();
        headers = {
          ...Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== name)),
          ...own.headers,
        };
      } catch (err) {
        if (err instanceof NotConnected)
          return c.json({ error: "not_connected", reason: err.reason, server: entry.server.id }, 409);
        if (err instanceof RefreshUnavailable)
          return c.json(
            {
              error: "refresh_unavailable",
              message: `the authorization server of ${entry.server.id} cannot refresh the token now`,
            },
            503,
          );
        if (err instanceof SecretsError) {
          log.error("a stored connection does not open", { server: entry.server.id, message: err.message });
          return c.json(
            {
              error: "secrets_unavailable",
              message: "the user's stored token cannot be opened; see the catalog's log",
            },
            500,
          );
        }
        throw err;
      }
    }
    const body: ServerCredentials = {
      server: entry.server.id,
      version: credentialsOf(entry.server)?.version ?? "",
      headers,
    };
    return new Response(JSON.stringify(body), {
      status: 200,
      headers: { "content-type": "application/json", "cache-control": "no-store" },
    });
  });
}
