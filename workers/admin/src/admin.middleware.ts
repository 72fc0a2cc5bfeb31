/**
 * Guards for everything under /admin (but each user's own /admin/me, self.routes.tsx): admins only (the `admin` claim of the identity assertion,
 * or membership of the mcp-admin group, as MCP treats them), and an Origin check on every
 * unsafe method against DNS rebinding and cross-site posts. The UI adds a CSRF token (csrf.ts).
 */
import type { Context, MiddlewareHandler } from "hono";
import { readEnv } from "../../../shared/env";
import type { Identity } from "../../../shared/identity";
import { ADMIN_GROUP } from "../../../shared/schemas";
import { AdminEnv } from "./env";
import type { AdminApp } from "./app";
import { Forbidden } from "./errors";

/** Whether an identity may administer the gateway. */
export function isAdmin(identity: Identity): boolean {
  return identity.admin || identity.groups.includes(ADMIN_GROUP);
}

/** Whether a path is the admin API's (JSON), not the UI's (HTML). */
export const isApi = (c: Context) => c.req.path === "/admin/api" || c.req.path.startsWith("/admin/api/");

/** Where a signed-in user who is no admin goes instead of the overview: their own page (self.routes.tsx). */
export const SELF_SERVICE_PATH = "/admin/me";

/**
 * 403 for non-admins: JSON on the API, an HTML page in the UI. A non-admin opening the UI's
 * start (`GET /admin`) is sent to their self-service page instead (302).
 */
export function requireAdmin(): MiddlewareHandler<AdminApp> {
  return async function requireAdminMiddleware(c, next) {
    const identity = c.get("identity");
    if (isAdmin(identity)) return next();
    if (c.req.method === "GET" && (c.req.path === "/admin" || c.req.path === "/admin/"))
      return c.redirect(SELF_SERVICE_PATH, 302);
    throw new Forbidden("administrators only");
  };
}

/** Origins a state-changing request may come from: PUBLIC_URL's only (never one derived from the client's own `Host`). */
export function allowedOrigins(c: Context): string[] {
  return [readEnv(AdminEnv, c.env).PUBLIC_URL];
}

/** Whether cookies must be `Secure`: the public origin (PUBLIC_URL) is https. */
export function secureOrigin(c: Context): boolean {
  return readEnv(AdminEnv, c.env).PUBLIC_URL.startsWith("https:");
}

/**
 * Refuses unsafe requests whose `Origin` (or, without one, `Referer`) is another site, and
 * cross-site requests flagged by `Sec-Fetch-Site`. Requests without any of these headers (curl,
 * scripts with an API key) pass; forms additionally need the CSRF token.
 */
export function originCheck(): MiddlewareHandler<AdminApp> {
  return async function originCheckMiddleware(c, next) {
    if (/^(GET|HEAD|OPTIONS)$/.test(c.req.method)) return next();
    const allowed = allowedOrigins(c);
    const origin = c.req.header("origin");
    const referer = c.req.header("referer");
    const site = c.req.header("sec-fetch-site");
    let ok = true;
    if (origin !== undefined) ok = allowed.includes(origin);
    else if (referer) ok = allowed.some((o) => referer === o || referer.startsWith(o + "/"));
    if (site && !["same-origin", "none"].includes(site)) ok = false;
    if (ok) return next();
    throw new Forbidden("cross-origin request refused", "The request came from another site and was refused.");
  };
}
