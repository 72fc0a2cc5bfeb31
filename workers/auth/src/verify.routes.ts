/**
 * The forwardAuth endpoint. Identifies the caller from its credentials and answers 200 with the
 * identity headers and a signed assertion, 401 with `WWW-Authenticate` for API/MCP clients, or a
 * redirect to the login page for browsers.
 */
import type { Hono } from "hono";
import { withSql } from "../../../shared/db";
import { signAssertion, type Identity } from "../../../shared/identity";
import { findKeyOwner, touchApiKey } from "../../../shared/repos/apikeys.repo";
import { userGroups } from "../../../shared/repos/users.repo";
import { readEnv } from "../../../shared/env";
import { AuthEnv } from "./env";

function publicOrigin(env: AuthEnv, headers: Headers, fallback: string): string {
  if (env.PUBLIC_URL) return env.PUBLIC_URL.replace(/\/$/, "");
  const host = headers.get("x-forwarded-host");
  const proto = headers.get("x-forwarded-proto") ?? "http";
  return host ? `${proto}://${host}` : new URL(fallback).origin;
}

function bearer(headers: Headers): string | null {
  const h = headers.get("authorization");
  const m = h?.match(/^Bearer\s+(\S+)$/i);
  return m ? m[1]! : null;
}

export function registerVerifyRoutes(app: Hono<{ Bindings: Record<string, unknown> }>) {
  app.get("/auth/verify", async (c) => {
    const env = readEnv(AuthEnv, c.env);
    const origin = publicOrigin(env, c.req.raw.headers, c.req.url);
    const uri = c.req.header("x-forwarded-uri") ?? "/";
    const token = bearer(c.req.raw.headers);
    let identity: Identity | null = null;
    if (token) {
      identity = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => {
        const owner = await findKeyOwner(sql, token);
        if (!owner) return null;
        c.executionCtx.waitUntil(touchApiKey(sql, owner.keyId).catch(() => {}));
        return { email: owner.email, groups: await userGroups(sql, owner.email), admin: owner.isAdmin, via: "apikey" };
      });
    }
    if (!identity) {
      const accept = c.req.header("accept") ?? "";
      if (!token && accept.includes("text/html") && !uri.startsWith("/mcp")) {
        return c.redirect(`${origin}/auth/login?rd=${encodeURIComponent(uri)}`, 302);
      }
      const resource = uri.startsWith("/mcp") ? uri.split("?")[0]! : "";
      c.header("WWW-Authenticate", `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource${resource}"${token ? ', error="invalid_token"' : ""}`);
      return c.json({ error: token ? "invalid_token" : "unauthenticated", message: token ? "the credential is not valid" : "credentials required: Authorization: Bearer <API key or token>" }, 401);
    }
    c.header("X-User-Email", identity.email);
    c.header("X-User-Groups", identity.groups.join(","));
    c.header("X-User-Admin", String(identity.admin));
    c.header("X-Identity-Assertion", await signAssertion(identity, env.IDENTITY_SECRET));
    return c.body(null, 200);
  });
}
