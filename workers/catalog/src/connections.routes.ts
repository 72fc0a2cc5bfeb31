/**
 * Revocation of users' connections when an admin deletes a user or a server (admin worker only;
 * the catalog is the worker that reaches authorization servers, shared/oauth.revoke.ts):
 *   POST /internal/connections/revoke {"server": id} | {"email": e} -> {deleted, revoked}
 *   POST /internal/connections/revoke-dropped {server, connections} -> {revoked}
 * Each connection is deleted (audited, reason `server deleted` / `user deleted`), then its
 * tokens are revoked at the authorization server that issued them, best effort. The admin worker
 * asks before it deletes the user or server (the server's OAuth client settings go with it).
 * A change of a server's address or credential settings deletes the connections that no longer
 * fit in the admin's own transaction; after it commits, the admin sends them here, tokens still
 * sealed, with the settings they were obtained under (shared/oauth.revoke.ts DroppedConnections),
 * and they are revoked at that authorization server. (The admin worker holds SECRETS_KEY and the
 * database itself, so this route gives it nothing it could not open; it only lacks the network.)
 */
import type { Hono } from "hono";
import { z } from "zod";
import { withSql } from "../../../shared/db";
import { readEnv } from "../../../shared/env";
import type { ServiceVariables } from "../../../shared/middleware/service-auth";
import { DroppedConnections, revokeAtProvider, revokeDropped } from "../../../shared/oauth.revoke";
import { loadServer } from "../../../shared/repos/catalog.repo";
import { connectionsOf, takeConnection } from "../../../shared/repos/connections.repo";
import { Email, ServerId, type ServerRow } from "../../../shared/schemas";
import { keyRing } from "../../../shared/secrets";
import { CatalogEnv } from "./env";

type App = Hono<{ Bindings: Record<string, unknown>; Variables: ServiceVariables }>;

const RevokeBody = z.union([z.strictObject({ server: ServerId }), z.strictObject({ email: Email })]);

export function registerConnectionRoutes(app: App): void {
  app.post("/internal/connections/revoke", async (c) => {
    if (c.get("caller") !== "admin")
      return c.json({ error: "forbidden", message: "only the admin worker may revoke connections" }, 403);
    const body = RevokeBody.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success)
      return c.json({ error: "invalid_request", message: 'send {"server": id} or {"email": address}' }, 400);
    const env = readEnv(CatalogEnv, c.env);
    const ring = await keyRing(env);
    const reason = "server" in body.data ? "server deleted" : "user deleted";
    const out = { deleted: 0, revoked: 0 };
    const taken = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => {
      const servers = new Map<string, ServerRow | null>();
      const list = [];
      for (const k of await connectionsOf(sql, body.data)) {
        const conn = await sql.begin((tx) => takeConnection(tx, ring, k.email, k.server, reason));
        if (!conn) continue;
        if (!servers.has(k.server)) servers.set(k.server, await loadServer(sql, k.server));
        list.push({ conn, server: servers.get(k.server)! });
      }
      return list;
    });
    for (const { conn, server } of taken) {
      out.deleted++;
      out.revoked += await revokeAtProvider(ring, server, conn);
    }
    return c.json(out);
  });

  app.post("/internal/connections/revoke-dropped", async (c) => {
    if (c.get("caller") !== "admin")
      return c.json({ error: "forbidden", message: "only the admin worker may revoke connections" }, 403);
    const body = DroppedConnections.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success)
      return c.json(
        { error: "invalid_request", message: `not a list of dropped connections: ${body.error.issues[0]?.message}` },
        400,
      );
    const ring = await keyRing(readEnv(CatalogEnv, c.env));
    return c.json({ revoked: await revokeDropped(ring, body.data) });
  });
}
