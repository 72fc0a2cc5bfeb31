/**
 * Self-service routes for every signed-in user, mounted before the admins-only guard
 * (index.ts): the page /admin/me with its two forms, and the JSON API /admin/api/me,
 * /admin/api/me/keys. What they show and allow: self.service.ts. The Origin check and (for the
 * forms) the CSRF token apply as on every admin path.
 */
import type { Context } from "hono";
import { readEnv } from "../../../shared/env";
import * as S from "./api.schema";
import { z } from "zod";
import { db } from "./api.routes";
import type { AdminApp, AdminHono } from "./app";
import { AdminEnv } from "./env";
import { defineRoute, mountRoutes, type Route } from "./route";
import { ApiError, parseOr400 } from "./errors";
import { issueMyKey, me, revokeMyKey } from "./self.service";
import { CONFIRM_FIELD, ConfirmPage } from "./ui/pages.confirm";
import { MePage } from "./ui/pages.self";
import { base, done } from "./ui.routes";

type C = Context<AdminApp>;

const publicUrl = (c: C) => readEnv(AdminEnv, c.env).PUBLIC_URL;

/** The page, with an optional banner or the key just issued. */
async function mePage(c: C, opts: { error?: string; newKey?: { id: string; key: string; name: string } } = {}) {
  const data = await db(c, (sql) => me(sql, c.get("identity"), publicUrl(c)));
  if (opts.newKey) c.header("Cache-Control", "no-store");
  const status = opts.error ? 400 : opts.newKey ? 201 : 200;
  return c.html(<MePage {...base(c, opts.error)} me={data} newKey={opts.newKey} />, status);
}

/** GET /admin/api/whoami, for any signed-in user; index.ts mounts it before the security headers and Origin check, as always. */
export const WHOAMI_ROUTE: Route = defineRoute({
  method: "get",
  path: "/admin/api/whoami",
  summary: "Who the caller is (any signed-in user; the rest of the API is for admins)",
  tag: "identity",
  ok: { status: 200, schema: S.WhoAmIOut, description: "the caller's verified identity" },
  handler: (c) => c.json(c.get("identity")),
});

/** The self-service JSON routes /admin/api/me* (any signed-in user, their own data). */
export const SELF_API_ROUTES: Route[] = [
  defineRoute({
    method: "get",
    path: "/admin/api/me",
    summary:
      "My access (groups -> tenants -> servers -> tools, only what I may use), my API keys and how to connect a client (any signed-in user, their own data)",
    tag: "self-service",
    self: true,
    ok: { status: 200, schema: S.MeOut, description: "the caller's own view" },
    handler: async (c) => c.json(await db(c, (sql) => me(sql, c.get("identity"), publicUrl(c)))),
  }),
  defineRoute({
    method: "get",
    path: "/admin/api/me/keys",
    summary: "My API keys (never the keys themselves)",
    tag: "self-service",
    self: true,
    ok: { status: 200, schema: z.object({ keys: z.array(S.KeyOut) }), description: "the caller's keys" },
    handler: async (c) => {
      const data = await db(c, (sql) => me(sql, c.get("identity"), publicUrl(c)));
      return c.json({ keys: data.keys });
    },
  }),
  defineRoute({
    method: "post",
    path: "/admin/api/me/keys",
    summary:
      "Issue myself an API key, shown this once (with a browser session or IdP token only: 403 with an API key; 409 over 20 live keys)",
    tag: "self-service",
    self: true,
    body: S.KeyBody,
    ok: { status: 201, schema: S.KeyCreatedOut, description: "the new key" },
    handler: async (c, { body }) => {
      const issued = await db(c, (sql) => issueMyKey(sql, c.get("identity"), body));
      c.header("Cache-Control", "no-store");
      return c.json(issued, 201);
    },
  }),
  defineRoute({
    method: "delete",
    path: "/admin/api/me/keys/{keyId}",
    summary: "Revoke one of my API keys (another user's key id: 404, like an unknown one)",
    tag: "self-service",
    self: true,
    params: { keyId: S.PathParam.keyId },
    ok: { status: 204, description: "revoked" },
    handler: async (c, { params: { keyId } }) => {
      await db(c, (sql) => revokeMyKey(sql, c.get("identity"), keyId));
      return c.body(null, 204);
    },
  }),
];

/** Mounts /admin/me and /admin/api/me*. */
export function registerSelfRoutes(app: AdminHono) {
  mountRoutes(app, SELF_API_ROUTES);

  // ---- the page and its forms
  app.get("/admin/me", (c) => mePage(c));
  app.post("/admin/me/keys", async (c) => {
    const f = await c.req.parseBody();
    const name = typeof f.name === "string" ? f.name.trim() : "";
    const days = typeof f.expiresInDays === "string" ? f.expiresInDays.trim() : "";
    try {
      const input = parseOr400(S.KeyBody, { name: name || undefined, expiresInDays: days ? Number(days) : undefined });
      const issued = await db(c, (sql) => issueMyKey(sql, c.get("identity"), input));
      return mePage(c, { newKey: issued });
    } catch (err) {
      if (err instanceof ApiError) return mePage(c, { error: err.message });
      throw err;
    }
  });
  app.post("/admin/me/keys/:keyId/revoke", async (c) => {
    const id = c.req.param("keyId");
    // like every destructive form of the admin UI: a confirmation page first (ui/pages.confirm.tsx)
    if ((await c.req.parseBody())[CONFIRM_FIELD] !== "yes") {
      const what = {
        label: `Revoke key ${id}`,
        consequence: "Every client using this key of yours is refused from now on.",
        back: "/admin/me",
      };
      return c.html(<ConfirmPage {...base(c)} what={what} action={c.req.path} />);
    }
    try {
      await db(c, (sql) => revokeMyKey(sql, c.get("identity"), parseOr400(S.Slug, id, "keyId")));
    } catch (err) {
      if (err instanceof ApiError) return mePage(c, { error: err.message });
      throw err;
    }
    return done(c, "/admin/me", `Key ${id} revoked.`);
  });
}
