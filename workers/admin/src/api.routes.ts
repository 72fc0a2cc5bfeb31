/**
 * The admin REST API at /admin/api (CONTRACT.md): tenants, servers, groups, users, API keys,
 * access explanation, audit log, upstream health, tool changes and usage reports. JSON only;
 * every 4xx `{error, message, field?}`.
 */
import type { Context } from "hono";
import type { z } from "zod";
import { withSql, type Sql } from "../../../shared/db";
import { readEnv } from "../../../shared/env";
import { listApiKeys } from "../../../shared/repos/apikeys.repo";
import { listAudit } from "../../../shared/repos/audit.repo";
import { getTenant, listTenants } from "../../../shared/repos/tenants.repo";
import { connectionCounts } from "../../../shared/repos/connections.repo";
import { getServer, listItemChanges, listServerHealth, listServers, type Server, type ServerHealth } from "../../../shared/repos/servers.repo";

import { getGroup, listGroups } from "../../../shared/repos/groups.repo";
import { getAdminUser, listUsers } from "../../../shared/repos/admin-users.repo";
import { LIVE_WINDOW_SECONDS, liveFigures, usageReport, type LiveFigures } from "../../../shared/repos/reports.repo";
import { getOverride, listOverrides, listReviews } from "../../../shared/repos/review.repo";
import { getVirtualServer, listVirtualServers } from "../../../shared/repos/virtual.repo";
import { log } from "../../../shared/log";
import { logoutToken } from "../../../shared/logout.token";
import { keyRing, type KeyRing } from "../../../shared/secrets";
import { withServiceAssertion } from "../../../shared/service-auth";
import * as S from "./api.schema";
import * as svc from "./admin.service";
import { explainAccess } from "./access.explain";
import { ApiError, parseOr400 } from "./errors";
import { AdminEnv } from "./env";
import type { AdminApp, AdminHono } from "./app";
import { openApiDocument } from "./openapi";
import { referencePage } from "./ui/pages.reference";

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
  return { windowSeconds: LIVE_WINDOW_SECONDS, servers: health.map((h) => ({ ...h, live: live.get(h.server) ?? none })) };
}

/** The request's JSON body ({} when empty); 400 naming `(body)` when not JSON. */
export async function body(c: C): Promise<unknown> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  if (!/^application\/(.+\+)?json\b/i.test(c.req.header("content-type") ?? "")) {
    throw new ApiError(400, "invalid_request", "(body): Content-Type must be application/json", "(body)");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, "invalid_request", "(body): not valid JSON", "(body)");
  }
}

const param = {
  id: (c: C) => parseOr400(S.Slug, c.req.param("id"), "id"),
  name: (c: C) => parseOr400(S.GroupName, c.req.param("name"), "name"),
  email: (c: C) => parseOr400(S.Email, c.req.param("email"), "email"),
  keyId: (c: C) => parseOr400(S.Slug, c.req.param("keyId"), "keyId"),
};

function query<Q extends z.ZodType>(c: C, schema: Q): z.infer<Q> {
  const raw = Object.fromEntries(Object.entries(c.req.query()).filter(([, v]) => v !== ""));
  return parseOr400(schema, raw);
}

function notFound(what: string): never {
  throw new ApiError(404, "not_found", `no ${what}`);
}

/** Asks the catalog to re-list a server after a change, after the response; failures are ignored. */
export function refreshServer(c: C, id: string): void {
  const catalog = c.env.CATALOG;
  if (!catalog || typeof (catalog as Fetcher).fetch !== "function") return;
  const p = withServiceAssertion(catalog as Fetcher, readEnv(AdminEnv, c.env).SERVICE_SECRET, "admin", "catalog")
    .fetch(new Request(`http://catalog/internal/refresh/${encodeURIComponent(id)}`, { method: "POST" }))
    .then((r) => {
      if (!r.ok) log.warn("catalog refused a refresh", { server: id, status: r.status });
      return r.body?.cancel();
    })
    .catch((err: unknown) => log.warn("catalog refresh failed", { server: id, message: String((err as Error)?.message ?? err) }));
  c.executionCtx.waitUntil(p);
}

/** The key ring that seals server headers (SECRETS_KEY, SECRETS_KEY_PREVIOUS). */
export function secretsRing(c: C): Promise<KeyRing> {
  return keyRing(readEnv(AdminEnv, c.env));
}

/** Mounts the REST API. */
export function registerApiRoutes(app: AdminHono) {
  const actor = (c: C) => c.get("identity").email.toLowerCase();

  app.get("/admin/api", (c) => c.redirect("/admin/api/docs", 302));
  app.get("/admin/api/openapi.json", (c) => c.json(openApiDocument(readEnv(AdminEnv, c.env).PUBLIC_URL)));
  // an HTML page under the API path: the CSRF middleware (UI only) did not set the sign-out token
  app.get("/admin/api/docs", async (c) => {
    const email = c.get("identity").email;
    return c.html(referencePage(c.get("secureHeadersNonce") ?? "", email, await logoutToken(readEnv(AdminEnv, c.env).IDENTITY_SECRET, email)));
  });

  // tenants
  app.get("/admin/api/tenants", async (c) => c.json({ tenants: await db(c, listTenants) }));
  app.get("/admin/api/tenants/:id", async (c) => {
    const id = param.id(c);
    return c.json((await db(c, (sql) => getTenant(sql, id))) ?? notFound(`tenant ${id}`));
  });
  app.put("/admin/api/tenants/:id", async (c) => {
    const id = param.id(c);
    const input = parseOr400(S.TenantBody, await body(c));
    const r = await db(c, (sql) => svc.putTenant(sql, actor(c), id, input));
    return c.json(r.item, r.created ? 201 : 200);
  });
  app.delete("/admin/api/tenants/:id", async (c) => {
    const id = param.id(c);
    await db(c, (sql) => svc.removeTenant(sql, actor(c), id));
    return c.body(null, 204);
  });

  // servers
  app.get("/admin/api/servers", async (c) => {
    const [servers, counts] = await db(c, (sql) => Promise.all([listServers(sql), connectionCounts(sql)]));
    return c.json({ servers: servers.map((s) => withConnections(s, counts)) });
  });
  app.get("/admin/api/servers/:id", async (c) => {
    const id = param.id(c);
    const [server, counts] = await db(c, (sql) => Promise.all([getServer(sql, id), connectionCounts(sql)]));
    return c.json(server ? withConnections(server, counts) : notFound(`server ${id}`));
  });
  app.put("/admin/api/servers/:id", async (c) => {
    const id = param.id(c);
    const input = parseOr400(S.ServerBody, await body(c));
    const ring = await secretsRing(c);
    const r = await db(c, (sql) => svc.putServer(sql, actor(c), id, input, ring));
    refreshServer(c, id);
    return c.json(r.item, r.created ? 201 : 200);
  });
  app.delete("/admin/api/servers/:id", async (c) => {
    const id = param.id(c);
    await db(c, (sql) => svc.removeServer(sql, actor(c), id));
    return c.body(null, 204);
  });

  // reviewed definitions (issue 15)
  app.get("/admin/api/servers/:id/changes", async (c) => {
    const id = param.id(c);
    const q = query(c, S.ReviewsQuery);
    const changes = await db(c, async (sql) => ((await getServer(sql, id)) ? listReviews(sql, id, q.state, q.limit) : null));
    return c.json({ changes: changes ?? notFound(`server ${id}`) });
  });
  for (const decision of ["approve", "reject"] as const) {
    app.post(`/admin/api/servers/:id/changes/:change/${decision}`, async (c) => {
      const id = param.id(c);
      const change = parseOr400(S.ChangeId, c.req.param("change"), "change");
      const review = await db(c, (sql) => svc.decideServerReview(sql, actor(c), id, change, decision));
      return c.json(review);
    });
  }
  app.post("/admin/api/servers/:id/refresh", async (c) => {
    const id = param.id(c);
    if (!(await db(c, (sql) => getServer(sql, id)))) notFound(`server ${id}`);
    refreshServer(c, id);
    return c.json({ server: id, refresh: "requested" }, 202);
  });

  // overrides (issue 15)
  app.get("/admin/api/servers/:id/overrides", async (c) => {
    const id = param.id(c);
    const overrides = await db(c, async (sql) => ((await getServer(sql, id)) ? listOverrides(sql, id) : null));
    return c.json({ overrides: overrides ?? notFound(`server ${id}`) });
  });
  app.get("/admin/api/servers/:id/overrides/:tool", async (c) => {
    const id = param.id(c);
    const tool = parseOr400(S.UpstreamToolName, c.req.param("tool"), "tool");
    return c.json((await db(c, (sql) => getOverride(sql, id, tool))) ?? notFound(`override of tool ${tool} on server ${id}`));
  });
  app.put("/admin/api/servers/:id/overrides/:tool", async (c) => {
    const id = param.id(c);
    const tool = parseOr400(S.UpstreamToolName, c.req.param("tool"), "tool");
    const input = parseOr400(S.OverrideBody, await body(c));
    const r = await db(c, (sql) => svc.putOverride(sql, actor(c), id, tool, input));
    return c.json(r.item, r.created ? 201 : 200);
  });
  app.delete("/admin/api/servers/:id/overrides/:tool", async (c) => {
    const id = param.id(c);
    const tool = parseOr400(S.UpstreamToolName, c.req.param("tool"), "tool");
    await db(c, (sql) => svc.removeOverride(sql, actor(c), id, tool));
    return c.body(null, 204);
  });

  // virtual servers (issue 15)
  app.get("/admin/api/virtual-servers", async (c) => c.json({ virtualServers: await db(c, (sql) => listVirtualServers(sql)) }));
  app.get("/admin/api/virtual-servers/:id", async (c) => {
    const id = param.id(c);
    return c.json((await db(c, (sql) => getVirtualServer(sql, id))) ?? notFound(`virtual server ${id}`));
  });
  app.put("/admin/api/virtual-servers/:id", async (c) => {
    const id = param.id(c);
    const input = parseOr400(S.VirtualServerBody, await body(c));
    const r = await db(c, (sql) => svc.putVirtualServer(sql, actor(c), id, input));
    return c.json(r.item, r.created ? 201 : 200);
  });
  app.delete("/admin/api/virtual-servers/:id", async (c) => {
    const id = param.id(c);
    await db(c, (sql) => svc.removeVirtualServer(sql, actor(c), id));
    return c.body(null, 204);
  });

  // groups
  app.get("/admin/api/groups", async (c) => c.json({ groups: await db(c, listGroups) }));
  app.get("/admin/api/groups/:name", async (c) => {
    const name = param.name(c);
    return c.json((await db(c, (sql) => getGroup(sql, name))) ?? notFound(`group ${name}`));
  });
  app.put("/admin/api/groups/:name", async (c) => {
    const name = param.name(c);
    const input = parseOr400(S.GroupBody, await body(c));
    const r = await db(c, (sql) => svc.putGroup(sql, actor(c), name, input));
    return c.json(r.item, r.created ? 201 : 200);
  });
  app.delete("/admin/api/groups/:name", async (c) => {
    const name = param.name(c);
    await db(c, (sql) => svc.removeGroup(sql, actor(c), name));
    return c.body(null, 204);
  });

  // users and keys
  app.get("/admin/api/users", async (c) => c.json({ users: await db(c, listUsers) }));
  app.get("/admin/api/users/:email", async (c) => {
    const email = param.email(c);
    const user = await db(c, async (sql) => {
      const u = await getAdminUser(sql, email);
      return u && { ...u, keys: (await listApiKeys(sql, email)).map(svc.keyOut) };
    });
    return c.json(user ?? notFound(`user ${email}`));
  });
  app.put("/admin/api/users/:email", async (c) => {
    const email = param.email(c);
    const input = parseOr400(S.UserBody, await body(c));
    const r = await db(c, (sql) => svc.putUser(sql, actor(c), email, input));
    return c.json(r.item, r.created ? 201 : 200);
  });
  app.delete("/admin/api/users/:email", async (c) => {
    const email = param.email(c);
    await db(c, (sql) => svc.removeUser(sql, actor(c), email));
    return c.body(null, 204);
  });
  app.get("/admin/api/users/:email/keys", async (c) => {
    const email = param.email(c);
    const keys = await db(c, async (sql) => ((await getAdminUser(sql, email)) ? (await listApiKeys(sql, email)).map(svc.keyOut) : null));
    return c.json({ keys: keys ?? notFound(`user ${email}`) });
  });
  app.get("/admin/api/users/:email/keys/:keyId", async (c) => {
    const email = param.email(c);
    const id = param.keyId(c);
    const key = await db(c, async (sql) => (await listApiKeys(sql, email)).find((k) => k.id === id));
    return c.json(key ? svc.keyOut(key) : notFound(`key ${id} of ${email}`));
  });
  app.post("/admin/api/users/:email/keys", async (c) => {
    const email = param.email(c);
    const input = parseOr400(S.KeyBody, await body(c));
    const issued = await db(c, (sql) => svc.issueKey(sql, actor(c), email, input));
    c.header("Cache-Control", "no-store");
    return c.json(issued, 201);
  });
  app.delete("/admin/api/users/:email/keys/:keyId", async (c) => {
    const email = param.email(c);
    const id = param.keyId(c);
    await db(c, (sql) => svc.revokeKey(sql, actor(c), email, id));
    return c.body(null, 204);
  });

  // read-only views
  app.get("/admin/api/access/:email", async (c) => {
    const email = param.email(c);
    const q = query(c, S.AccessQuery);
    return c.json(await db(c, (sql) => explainAccess(sql, email, q.tool)));
  });
  app.get("/admin/api/audit", async (c) => {
    const q = query(c, S.AuditQuery);
    return c.json({ entries: await db(c, (sql) => listAudit(sql, q)) });
  });
  app.get("/admin/api/health", async (c) => c.json(await db(c, healthReport)));
  app.get("/admin/api/changes", async (c) => {
    const q = query(c, S.ChangesQuery);
    return c.json({ changes: await db(c, (sql) => listItemChanges(sql, q)) });
  });
  app.get("/admin/api/reports/usage", async (c) => {
    const q = query(c, S.UsageQuery);
    return c.json(await db(c, (sql) => usageReport(sql, usageWindow(q))));
  });
}

/** Fills the usage window's defaults: the last 24 hours. */
export function usageWindow(q: z.infer<typeof S.UsageQuery>) {
  const until = q.until ?? new Date();
  const since = q.since ?? new Date(until.getTime() - 86_400_000);
  if (since >= until) throw new ApiError(400, "invalid_request", "since: must be before until", "since");
  return { ...q, since, until };
}
