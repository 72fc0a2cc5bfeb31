/**
 * Self-service routes for every signed-in user, mounted before the admins-only guard
 * (index.ts): the page /admin/me with its two forms, and the JSON API /admin/api/me,
 * /admin/api/me/keys. What they show and allow: self.service.ts. The Origin check and (for the
 * forms) the CSRF token apply as on every admin path.
 */
import type { Context } from "hono";
import { readEnv } from "../../../shared/env";
import * as S from "./api.schema";
import { body, db } from "./api.routes";
import type { AdminApp, AdminHono } from "./app";
import { AdminEnv } from "./env";
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

/** Mounts /admin/me and /admin/api/me*. */
export function registerSelfRoutes(app: AdminHono) {
  // ---- JSON
  app.get("/admin/api/me", async (c) => c.json(await db(c, (sql) => me(sql, c.get("identity"), publicUrl(c)))));
  app.get("/admin/api/me/keys", async (c) => {
    const data = await db(c, (sql) => me(sql, c.get("identity"), publicUrl(c)));
    return c.json({ keys: data.keys });
  });
  app.post("/admin/api/me/keys", async (c) => {
    const input = parseOr400(S.KeyBody, await body(c));
    const issued = await db(c, (sql) => issueMyKey(sql, c.get("identity"), input));
    c.header("Cache-Control", "no-store");
    return c.json(issued, 201);
  });
  app.delete("/admin/api/me/keys/:keyId", async (c) => {
    const id = parseOr400(S.Slug, c.req.param("keyId"), "keyId");
    await db(c, (sql) => revokeMyKey(sql, c.get("identity"), id));
    return c.body(null, 204);
  });

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
      const what = { label: `Revoke key ${id}`, consequence: "Every client using this key of yours is refused from now on.", back: "/admin/me" };
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
