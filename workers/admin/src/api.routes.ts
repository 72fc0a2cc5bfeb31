/**
 * The admin REST API at /admin/api (CONTRACT.md): tenants, servers, groups, users, API keys,
 * access explanation, audit log, upstream health, tool changes and usage reports. JSON only;
 * every 4xx `{error, message, field?}`.
 */
import type { Context } from "hono";
import { z } from "zod";
import { withSql, type Sql } from "../../../shared/db";
import { readEnv } from "../../../shared/env";
import { listApiKeys } from "../../../shared/repos/apikeys.repo";
import { listAudit } from "../../../shared/repos/audit.repo";
import { getTenant, listTenants } from "../../../shared/repos/tenants.repo";
import { connectionCounts } from "../../../shared/repos/connections.repo";
import {
  getServer,
  listItemChanges,
  listServerHealth,
  listServers,
  type Server,
  type ServerHealth,
} from "../../../shared/repos/servers.repo";

import { getGroup, listGroups } from "../../../shared/repos/groups.repo";
import { getAdminUser, listUsers } from "../../../shared/repos/admin-users.repo";
import { LIVE_WINDOW_SECONDS, liveFigures, usageReport, type LiveFigures } from "../../../shared/repos/reports.repo";
import { getOverride, listOverrides, listReviews } from "../../../shared/repos/review.repo";
import { getVirtualServer, listVirtualServers } from "../../../shared/repos/virtual.repo";
import { log } from "../../../shared/log";
import type { DroppedConnections } from "../../../shared/oauth.revoke";
import { keyRing, type KeyRing } from "../../../shared/secrets";
import { withServiceAssertion } from "../../../shared/service-auth";
import * as S from "./api.schema";
import * as svc from "./admin.service";
import { explainAccess } from "./access.explain";
import { ApiError } from "./errors";
import { AdminEnv } from "./env";
import type { AdminApp, AdminHono } from "./app";
import { defineRoute, mountRoutes, type Route } from "./route";

/** A server with its number of connected users when each user brings their own credential. */
function withConnections(s: Server, counts: Record<string, number>): Server & { connections?: number } {
  return s.credentials.mode === "shared" ? s : { ...s, connections: counts[s.id] ?? 0 };
}

type C = Context<AdminApp>;

/** Runs `fn` with a per-request Postgres client. */
export function db<T>(c: C, fn: (sql: Sql) => Promise<T>): Promise<T> {
  return withSql(readEnv(AdminEnv, c.env).DATABASE_URL, c.executionCtx, fn);
}

/** A server's health with its live tool-call figures (zeros when it had no call in the window). */
export type ServerHealthLive = ServerHealth & { live: LiveFigures };

/** Upstream health as the catalog last saw it, with each server's live figures from the audit log (shared/repos/reports.repo.ts). */
export async function healthReport(sql: Sql): Promise<{ windowSeconds: number; servers: ServerHealthLive[] }> {
  const [health, live] = await Promise.all([listServerHealth(sql), liveFigures(sql)]);
  const none: LiveFigures = { calls: 0, errors: 0, rate: 0, errorRatio: null, p50Ms: null, p95Ms: null };
  return {
    windowSeconds: LIVE_WINDOW_SECONDS,
    servers: health.map((h) => ({ ...h, live: live.get(h.server) ?? none })),
  };
}

function notFound(what: string): never {
  throw new ApiError(404, "not_found", `no ${what}`);
}

/** Asks the catalog to re-list a server after a change, after the response; failures are ignored. */
export function askCatalogToRefresh(c: C, id: string): void {
  const catalog = c.env.CATALOG;
  if (!catalog || typeof (catalog as Fetcher).fetch !== "function") return;
  const p = withServiceAssertion(catalog as Fetcher, readEnv(AdminEnv, c.env).SERVICE_SECRET, "admin", "catalog")
    .fetch(new Request(`http://catalog/internal/refresh/${encodeURIComponent(id)}`, { method: "POST" }))
    .then((r) => {
      if (!r.ok) log.warn("catalog refused a refresh", { server: id, status: r.status });
      return r.body?.cancel();
    })
    .catch((err: unknown) =>
      log.warn("catalog refresh failed", { server: id, message: String((err as Error)?.message ?? err) }),
    );
  c.executionCtx.waitUntil(p);
}

/** How long a delete waits for the catalog to revoke the connections that go with it (ms). */
const REVOKE_WAIT_MS = 15_000;

/** Asks the catalog to revoke at `path` (best effort: a failure is logged, never thrown). */
async function askCatalogToRevoke(c: C, path: string, body: unknown, about: Record<string, string>): Promise<void> {
  const catalog = c.env.CATALOG;
  if (!catalog || typeof (catalog as Fetcher).fetch !== "function") return;
  try {
    const r = await withServiceAssertion(
      catalog as Fetcher,
      readEnv(AdminEnv, c.env).SERVICE_SECRET,
      "admin",
      "catalog",
    ).fetch(
      new Request(`http://catalog${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REVOKE_WAIT_MS),
      }),
    );
    if (!r.ok) log.warn("catalog did not revoke connections", { status: r.status, ...about });
    await r.body?.cancel();
  } catch (err) {
    log.warn("revoking connections failed", { ...about, message: String((err as Error)?.message ?? err) });
  }
}

/**
 * Before a user or a server is deleted: asks the catalog to delete their users' connections and
 * revoke the tokens at the authorization servers (RFC 7009; the catalog reaches them, this
 * worker does not). Best effort: a failure is logged and the deletion goes on (the rows cascade).
 */
export function revokeConnections(c: C, by: { server: string } | { email: string }): Promise<void> {
  return askCatalogToRevoke(c, "/internal/connections/revoke", by, by);
}

/** Connections sent to the catalog per request (each about 1 KB, within its body limit). */
const DROPPED_PER_REQUEST = 200;

/**
 * After a server change that dropped its users' connections (admin.service.ts putServer) is
 * committed: has the catalog revoke their tokens under the settings they were obtained with.
 */
export async function revokeDropped(c: C, dropped: DroppedConnections | null): Promise<void> {
  if (!dropped) return;
  for (let i = 0; i < dropped.connections.length; i += DROPPED_PER_REQUEST) {
    const connections = dropped.connections.slice(i, i + DROPPED_PER_REQUEST);
    await askCatalogToRevoke(
      c,
      "/internal/connections/revoke-dropped",
      { server: dropped.server, connections },
      {
        server: dropped.server.id,
      },
    );
  }
}

/** The key ring that seals server headers (SECRETS_KEY, SECRETS_KEY_PREVIOUS). */
export function secretsRing(c: C): Promise<KeyRing> {
  return keyRing(readEnv(AdminEnv, c.env));
}

const actor = (c: C) => c.get("identity").email.toLowerCase();
const P = {
  tenant: { id: S.PathParam.tenant },
  server: { id: S.PathParam.server },
  virtualServer: { id: S.PathParam.virtualServer },
  name: { name: S.PathParam.group },
  email: { email: S.PathParam.email },
};
const replaced = "replaced (201 when created)";

/** Every admin-only route of the REST API, in the document's order (openapi.ts). */
export const API_ROUTES: Route[] = [
  // tenants
  defineRoute({
    method: "get",
    path: "/admin/api/tenants",
    summary: "List tenants",
    tag: "tenants",
    ok: { status: 200, schema: z.object({ tenants: z.array(S.TenantOut) }), description: "every tenant" },
    handler: async (c) => c.json({ tenants: await db(c, listTenants) }),
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/tenants/{id}",
    summary: "Get a tenant",
    tag: "tenants",
    params: P.tenant,
    ok: { status: 200, schema: S.TenantOut, description: "the tenant" },
    handler: async (c, { params: { id } }) =>
      c.json((await db(c, (sql) => getTenant(sql, id))) ?? notFound(`tenant ${id}`)),
  }),
  defineRoute({
    method: "put",
    path: "/admin/api/tenants/{id}",
    summary: "Create or replace a tenant",
    tag: "tenants",
    params: P.tenant,
    body: S.TenantBody,
    ok: { status: 200, schema: S.TenantOut, description: replaced },
    handler: async (c, { params: { id }, body }) => {
      const r = await db(c, (sql) => svc.putTenant(sql, actor(c), id, body));
      return c.json(r.item, r.created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "delete",
    path: "/admin/api/tenants/{id}",
    summary: "Delete a tenant (409 while it has servers)",
    tag: "tenants",
    params: P.tenant,
    ok: { status: 204, description: "deleted" },
    handler: async (c, { params: { id } }) => {
      await db(c, (sql) => svc.removeTenant(sql, actor(c), id));
      return c.body(null, 204);
    },
  }),

  // servers
  defineRoute({
    method: "get",
    path: "/admin/api/servers",
    summary: "List servers (secret header values never returned)",
    tag: "servers",
    ok: { status: 200, schema: z.object({ servers: z.array(S.ServerOut) }), description: "every server" },
    handler: async (c) => {
      const [servers, counts] = await db(c, (sql) => Promise.all([listServers(sql), connectionCounts(sql)]));
      return c.json({ servers: servers.map((s) => withConnections(s, counts)) });
    },
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/servers/{id}",
    summary: "Get a server",
    tag: "servers",
    params: P.server,
    ok: { status: 200, schema: S.ServerOut, description: "the server" },
    handler: async (c, { params: { id } }) => {
      const [server, counts] = await db(c, (sql) => Promise.all([getServer(sql, id), connectionCounts(sql)]));
      return c.json(server ? withConnections(server, counts) : notFound(`server ${id}`));
    },
  }),
  defineRoute({
    method: "put",
    path: "/admin/api/servers/{id}",
    summary: "Create or replace a server; the catalog re-lists it",
    tag: "servers",
    params: P.server,
    body: S.ServerBody,
    ok: { status: 200, schema: S.ServerOut, description: replaced },
    handler: async (c, { params: { id }, body }) => {
      const ring = await secretsRing(c);
      const r = await db(c, (sql) => svc.putServer(sql, actor(c), id, body, ring));
      askCatalogToRefresh(c, id);
      await revokeDropped(c, r.dropped);
      return c.json(r.item, r.created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "delete",
    path: "/admin/api/servers/{id}",
    summary: "Delete a server",
    tag: "servers",
    params: P.server,
    ok: { status: 204, description: "deleted" },
    handler: async (c, { params: { id } }) => {
      await revokeConnections(c, { server: id });
      await db(c, (sql) => svc.removeServer(sql, actor(c), id));
      return c.body(null, 204);
    },
  }),

  // reviewed definitions (issue 15)
  defineRoute({
    method: "get",
    path: "/admin/api/servers/{id}/changes",
    summary: "Reviews of a server's tool definitions (review: hold/findings), with poisoning findings",
    tag: "review",
    params: P.server,
    query: S.ReviewsQuery,
    ok: { status: 200, schema: z.object({ changes: z.array(S.ReviewOut) }), description: "newest first" },
    handler: async (c, { params: { id }, query: q }) => {
      const changes = await db(c, async (sql) =>
        (await getServer(sql, id)) ? listReviews(sql, id, q.state, q.limit) : null,
      );
      return c.json({ changes: changes ?? notFound(`server ${id}`) });
    },
  }),
  ...(
    [
      ["approve", "Approve a pending change: users are served its definition"],
      [
        "reject",
        "Reject a pending change: users keep the approved definition; calls stay refused while the upstream lists the rejected one",
      ],
    ] as const
  ).map(([decision, summary]) =>
    defineRoute({
      method: "post",
      path: `/admin/api/servers/{id}/changes/{change}/${decision}`,
      summary,
      tag: "review",
      params: { ...P.server, change: S.PathParam.change },
      ok: { status: 200, schema: S.ReviewOut, description: "the decided review (409 when not pending)" },
      handler: async (c, { params: { id, change } }) =>
        c.json(await db(c, (sql) => svc.decideServerReview(sql, actor(c), id, change, decision))),
    }),
  ),
  defineRoute({
    method: "post",
    path: "/admin/api/servers/{id}/refresh",
    summary: "Re-list the server now",
    tag: "review",
    params: P.server,
    ok: { status: 202, description: "refresh requested" },
    handler: async (c, { params: { id } }) => {
      if (!(await db(c, (sql) => getServer(sql, id)))) notFound(`server ${id}`);
      askCatalogToRefresh(c, id);
      return c.json({ server: id, refresh: "requested" }, 202);
    },
  }),

  // overrides (issue 15)
  defineRoute({
    method: "get",
    path: "/admin/api/servers/{id}/overrides",
    summary: "A server's tool overrides",
    tag: "overrides",
    params: P.server,
    ok: { status: 200, schema: z.object({ overrides: z.array(S.OverrideOut) }), description: "by tool" },
    handler: async (c, { params: { id } }) => {
      const overrides = await db(c, async (sql) => ((await getServer(sql, id)) ? listOverrides(sql, id) : null));
      return c.json({ overrides: overrides ?? notFound(`server ${id}`) });
    },
  }),
  // the same three with the tool in the query string: every valid tool name, `/` included (the
  // edge, like Traefik, refuses an encoded slash in a path, so `/overrides/a%2Fb` cannot reach here)
  defineRoute({
    method: "get",
    path: "/admin/api/servers/{id}/override",
    summary: "One tool's override, the tool named in the query string (any name, `/` included)",
    tag: "overrides",
    params: P.server,
    query: S.ToolQuery,
    ok: { status: 200, schema: S.OverrideOut, description: "the override" },
    handler: async (c, { params: { id }, query: { tool } }) =>
      c.json(
        (await db(c, (sql) => getOverride(sql, id, tool))) ?? notFound(`override of tool ${tool} on server ${id}`),
      ),
  }),
  defineRoute({
    method: "put",
    path: "/admin/api/servers/{id}/override",
    summary: "Rename, describe or hide a tool named in the query string (any name, `/` included)",
    tag: "overrides",
    params: P.server,
    query: S.ToolQuery,
    body: S.OverrideBody,
    ok: { status: 200, schema: S.OverrideOut, description: replaced },
    handler: async (c, { params: { id }, query: { tool }, body }) => {
      const r = await db(c, (sql) => svc.putOverride(sql, actor(c), id, tool, body));
      return c.json(r.item, r.created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "delete",
    path: "/admin/api/servers/{id}/override",
    summary: "Remove the override of a tool named in the query string (any name, `/` included)",
    tag: "overrides",
    params: P.server,
    query: S.ToolQuery,
    ok: { status: 204, description: "deleted" },
    handler: async (c, { params: { id }, query: { tool } }) => {
      await db(c, (sql) => svc.removeOverride(sql, actor(c), id, tool));
      return c.body(null, 204);
    },
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/servers/{id}/overrides/{tool}",
    summary: "One tool's override",
    tag: "overrides",
    params: { ...P.server, tool: S.PathParam.tool },
    ok: { status: 200, schema: S.OverrideOut, description: "the override" },
    handler: async (c, { params: { id, tool } }) =>
      c.json(
        (await db(c, (sql) => getOverride(sql, id, tool))) ?? notFound(`override of tool ${tool} on server ${id}`),
      ),
  }),
  defineRoute({
    method: "put",
    path: "/admin/api/servers/{id}/overrides/{tool}",
    summary: "Rename a tool, replace its description or hide it for everyone",
    tag: "overrides",
    params: { ...P.server, tool: S.PathParam.tool },
    body: S.OverrideBody,
    ok: { status: 200, schema: S.OverrideOut, description: replaced },
    handler: async (c, { params: { id, tool }, body }) => {
      const r = await db(c, (sql) => svc.putOverride(sql, actor(c), id, tool, body));
      return c.json(r.item, r.created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "delete",
    path: "/admin/api/servers/{id}/overrides/{tool}",
    summary: "Remove a tool's override",
    tag: "overrides",
    params: { ...P.server, tool: S.PathParam.tool },
    ok: { status: 204, description: "deleted" },
    handler: async (c, { params: { id, tool } }) => {
      await db(c, (sql) => svc.removeOverride(sql, actor(c), id, tool));
      return c.body(null, 204);
    },
  }),

  // virtual servers (issue 15)
  defineRoute({
    method: "get",
    path: "/admin/api/virtual-servers",
    summary: "List virtual servers",
    tag: "virtual servers",
    ok: {
      status: 200,
      schema: z.object({ virtualServers: z.array(S.VirtualServerOut) }),
      description: "every virtual server",
    },
    handler: async (c) => c.json({ virtualServers: await db(c, (sql) => listVirtualServers(sql)) }),
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/virtual-servers/{id}",
    summary: "Get a virtual server",
    tag: "virtual servers",
    params: P.virtualServer,
    ok: { status: 200, schema: S.VirtualServerOut, description: "the virtual server" },
    handler: async (c, { params: { id } }) =>
      c.json((await db(c, (sql) => getVirtualServer(sql, id))) ?? notFound(`virtual server ${id}`)),
  }),
  defineRoute({
    method: "put",
    path: "/admin/api/virtual-servers/{id}",
    summary: "Create or replace a virtual server: /mcp/<id> with chosen tools of several servers",
    tag: "virtual servers",
    params: P.virtualServer,
    body: S.VirtualServerBody,
    ok: { status: 200, schema: S.VirtualServerOut, description: replaced },
    handler: async (c, { params: { id }, body }) => {
      const r = await db(c, (sql) => svc.putVirtualServer(sql, actor(c), id, body));
      return c.json(r.item, r.created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "delete",
    path: "/admin/api/virtual-servers/{id}",
    summary: "Delete a virtual server",
    tag: "virtual servers",
    params: P.virtualServer,
    ok: { status: 204, description: "deleted" },
    handler: async (c, { params: { id } }) => {
      await db(c, (sql) => svc.removeVirtualServer(sql, actor(c), id));
      return c.body(null, 204);
    },
  }),

  // groups
  defineRoute({
    method: "get",
    path: "/admin/api/groups",
    summary: "List groups",
    tag: "groups",
    ok: { status: 200, schema: z.object({ groups: z.array(S.GroupOut) }), description: "every group" },
    handler: async (c) => c.json({ groups: await db(c, listGroups) }),
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/groups/{name}",
    summary: "Get a group",
    tag: "groups",
    params: P.name,
    ok: { status: 200, schema: S.GroupOut, description: "the group" },
    handler: async (c, { params: { name } }) =>
      c.json((await db(c, (sql) => getGroup(sql, name))) ?? notFound(`group ${name}`)),
  }),
  defineRoute({
    method: "put",
    path: "/admin/api/groups/{name}",
    summary: "Create or replace a group: its tenants and tool rules",
    tag: "groups",
    params: P.name,
    body: S.GroupBody,
    ok: { status: 200, schema: S.GroupOut, description: replaced },
    handler: async (c, { params: { name }, body }) => {
      const r = await db(c, (sql) => svc.putGroup(sql, actor(c), name, body));
      return c.json(r.item, r.created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "delete",
    path: "/admin/api/groups/{name}",
    summary: "Delete a group",
    tag: "groups",
    params: P.name,
    ok: { status: 204, description: "deleted" },
    handler: async (c, { params: { name } }) => {
      await db(c, (sql) => svc.removeGroup(sql, actor(c), name));
      return c.body(null, 204);
    },
  }),

  // users and keys
  defineRoute({
    method: "get",
    path: "/admin/api/users",
    summary: "List users",
    tag: "users",
    ok: { status: 200, schema: z.object({ users: z.array(S.UserOut) }), description: "every user" },
    handler: async (c) => c.json({ users: await db(c, listUsers) }),
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/users/{email}",
    summary: "Get a user with their keys",
    tag: "users",
    params: P.email,
    ok: { status: 200, schema: S.UserOut, description: "the user" },
    handler: async (c, { params: { email } }) => {
      const user = await db(c, async (sql) => {
        const u = await getAdminUser(sql, email);
        return u && { ...u, keys: (await listApiKeys(sql, email)).map(svc.keyOut) };
      });
      return c.json(user ?? notFound(`user ${email}`));
    },
  }),
  defineRoute({
    method: "put",
    path: "/admin/api/users/{email}",
    summary: "Create or replace a user: groups and admin flag",
    tag: "users",
    params: P.email,
    body: S.UserBody,
    ok: { status: 200, schema: S.UserOut, description: replaced },
    handler: async (c, { params: { email }, body }) => {
      const r = await db(c, (sql) => svc.putUser(sql, actor(c), email, body));
      return c.json(r.item, r.created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "delete",
    path: "/admin/api/users/{email}",
    summary: "Delete a user and their keys",
    tag: "users",
    params: P.email,
    ok: { status: 204, description: "deleted" },
    handler: async (c, { params: { email } }) => {
      // an admin cannot delete themselves (the service refuses): their connections stay
      if (actor(c).toLowerCase() !== email.toLowerCase()) await revokeConnections(c, { email });
      await db(c, (sql) => svc.removeUser(sql, actor(c), email));
      return c.body(null, 204);
    },
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/users/{email}/keys",
    summary: "List a user's API keys (never the keys themselves)",
    tag: "keys",
    params: P.email,
    ok: { status: 200, schema: z.object({ keys: z.array(S.KeyOut) }), description: "the keys" },
    handler: async (c, { params: { email } }) => {
      const keys = await db(c, async (sql) =>
        (await getAdminUser(sql, email)) ? (await listApiKeys(sql, email)).map(svc.keyOut) : null,
      );
      return c.json({ keys: keys ?? notFound(`user ${email}`) });
    },
  }),
  defineRoute({
    method: "post",
    path: "/admin/api/users/{email}/keys",
    summary: "Issue an API key; the key is shown this once",
    tag: "keys",
    params: P.email,
    body: S.KeyBody,
    ok: { status: 201, schema: S.KeyCreatedOut, description: "the new key" },
    handler: async (c, { params: { email }, body }) => {
      const issued = await db(c, (sql) => svc.issueKey(sql, actor(c), email, body));
      c.header("Cache-Control", "no-store");
      return c.json(issued, 201);
    },
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/users/{email}/keys/{keyId}",
    summary: "Get one API key's metadata (never the key)",
    tag: "keys",
    params: { ...P.email, keyId: S.PathParam.keyId },
    ok: { status: 200, schema: S.KeyOut, description: "the key's metadata" },
    handler: async (c, { params: { email, keyId: id } }) => {
      const key = await db(c, async (sql) => (await listApiKeys(sql, email)).find((k) => k.id === id));
      return c.json(key ? svc.keyOut(key) : notFound(`key ${id} of ${email}`));
    },
  }),
  defineRoute({
    method: "delete",
    path: "/admin/api/users/{email}/keys/{keyId}",
    summary: "Revoke an API key",
    tag: "keys",
    params: { ...P.email, keyId: S.PathParam.keyId },
    ok: { status: 204, description: "revoked" },
    handler: async (c, { params: { email, keyId: id } }) => {
      await db(c, (sql) => svc.revokeKey(sql, actor(c), email, id));
      return c.body(null, 204);
    },
  }),

  // read-only views
  defineRoute({
    method: "get",
    path: "/admin/api/access/{email}",
    summary: "Effective access: each visible server and tool with the user -> group -> tenant -> server chain",
    tag: "access",
    params: P.email,
    query: S.AccessQuery,
    ok: { status: 200, schema: S.AccessOut, description: "the explanation" },
    handler: async (c, { params: { email }, query: q }) =>
      c.json(await db(c, (sql) => explainAccess(sql, email, q.tool))),
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/audit",
    summary: "The audit log, newest first",
    tag: "reports",
    query: S.AuditQuery,
    ok: { status: 200, schema: S.AuditOut, description: "audit entries" },
    handler: async (c, { query: q }) => c.json({ entries: await db(c, (sql) => listAudit(sql, q)) }),
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/health",
    summary: "Upstream health as the catalog last saw it, with live tool-call figures per server",
    tag: "reports",
    ok: { status: 200, schema: S.HealthOut, description: "per server" },
    handler: async (c) => c.json(await db(c, healthReport)),
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/changes",
    summary: "Changes of upstream tools, prompts and resources",
    tag: "reports",
    query: S.ChangesQuery,
    ok: { status: 200, schema: S.ChangesOut, description: "changes, newest first" },
    handler: async (c, { query: q }) => c.json({ changes: await db(c, (sql) => listItemChanges(sql, q)) }),
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/reports/usage",
    summary: "Tool calls over time and per user, tenant, server and tool; error rate and p50/p95 latency",
    tag: "reports",
    query: S.UsageQuery,
    ok: { status: 200, schema: S.UsageOut, description: "the report" },
    handler: async (c, { query: q }) => c.json(await db(c, (sql) => usageReport(sql, usageWindow(q)))),
  }),
];

/** Mounts the REST API (the admin-only routes; the document and its page: docs.routes.ts). */
export function registerApiRoutes(app: AdminHono) {
  mountRoutes(app, API_ROUTES);
}

/** Fills the usage window's defaults: the last 24 hours. */
export function usageWindow(q: z.infer<typeof S.UsageQuery>) {
  const until = q.until ?? new Date();
  const since = q.since ?? new Date(until.getTime() - 86_400_000);
  if (since >= until) throw new ApiError(400, "invalid_request", "since: must be before until", "since");
  return { ...q, since, until };
}
