/**
 * The forwardAuth endpoint (Traefik v3 semantics): reads the original request from
 * X-Forwarded-Method/Proto/Host/Uri, identifies the caller (credentials.ts: session cookie, then
 * bearer API key / IdP JWT / Open WebUI token / Open WebUI forwarded headers) and answers
 * - 200 with X-User-Email, X-User-Groups, X-User-Admin and the signed X-Identity-Assertion;
 * - 302 to `/auth/login` (or `/auth/refresh` when the session's tokens are due) for a browser
 *   navigation without valid credentials, never for `/mcp`;
 * - 401 with `WWW-Authenticate: Bearer resource_metadata=...` for API and MCP clients.
 */
import { authOutcomes } from "../../../shared/observe/families";
import type { Context, Hono } from "hono";
import { normalisePath } from "../../../shared/edge";
import { readEnv } from "../../../shared/env";
import { causeOf, errorResponse, isMcpPath } from "../../../shared/http";
import { log } from "../../../shared/log";
import { signAssertion, type Identity } from "../../../shared/identity";
import { bearerToken, CredentialRefused, identifyBearer, identifySession } from "./credentials";
import { authDb } from "./db";
import { recordRefusedCredential } from "./auth.audit";
import { OidcError } from "./oidc.client";
import { IdentityUnavailable } from "./identity.cache";
import { AuthEnv } from "./env";
import { publicOrigin, readSession } from "./session";

type App = Hono<{ Bindings: Record<string, unknown> }>;

/** Whether the forwarded request (its normalised path) is a browser navigation that may be redirected to the login. */
function isBrowserNavigation(headers: Headers, path: string): boolean {
  const accept = headers.get("accept") ?? "";
  return accept.includes("text/html") && !isMcpPath(path);
}

/** The original request's absolute URL, from the forwarded headers. */
function originalUrl(headers: Headers, origin: string, uri: string): string {
  const host = headers.get("x-forwarded-host");
  const proto = headers.get("x-forwarded-proto");
  return host && proto ? `${proto}://${host}${uri}` : `${origin}${uri}`;
}

/**
 * Identifies the caller of a request to `path` (normalised, shared/edge.ts normalisePath: the
 * path decides which audiences and credentials count); used by the forwardAuth step and /auth/me.
 */
export async function identify(
  c: Context<{ Bindings: Record<string, unknown> }>,
  env: AuthEnv,
  origin: string,
  path: string,
): Promise<{ identity: Identity | null; hadToken: boolean; refreshDue: boolean }> {
  const headers = c.req.raw.headers;
  const session = await readSession(env, headers.get("cookie"));
  const token = bearerToken(headers);
  const db = authDb(c.env);
  if (session) {
    const identity = await identifySession(db, session);
    if (identity)
      return { identity, hadToken: !!token, refreshDue: session.refreshAt <= Math.floor(Date.now() / 1000) };
  }
  if (token) {
    const identity = await identifyBearer(env, db, c.executionCtx, token, headers, origin, path);
    // a token that names nobody: in the audit log (bounded, never the token; auth.audit.ts)
    if (!identity) c.executionCtx.waitUntil(recordRefusedCredential(db, token, path, headers));
    return { identity, hadToken: true, refreshDue: false };
  }
  return { identity: null, hadToken: false, refreshDue: false };
}

/**
 * The forwardAuth step, on the worker's `ForwardAuth` entrypoint only (index.ts): every request
 * there is a forwardAuth call, whatever its path. The public app has no such route.
 */
export function registerVerifyRoutes(app: App) {
  app.all("*", async (c) => {
    const env = readEnv(AuthEnv, c.env);
    const headers = c.req.raw.headers;
    const origin = publicOrigin(env);
    const uri = c.req.header("x-forwarded-uri") ?? "/";
    // every decision below is taken on the one normalised path the routers and workers use
    const path = normalisePath(uri);
    if (path === null)
      return errorResponse(
        uri.split("?")[0]!,
        400,
        "invalid_path",
        "the path has an encoded slash or backslash, a control character or broken percent-encoding",
      );
    const method = (c.req.header("x-forwarded-method") ?? "GET").toUpperCase();
    let verdict: Awaited<ReturnType<typeof identify>>;
    try {
      verdict = await identify(c, env, origin, path);
    } catch (err) {
      // the identity provider could not be asked (discovery down): say so, do not guess
      if (err instanceof OidcError) return c.json({ error: err.code, message: err.message }, 503);
      // a valid credential that may not be used here (Open WebUI's forwarded headers for an admin)
      if (err instanceof CredentialRefused) return errorResponse(path, err.status, err.code, err.message);
      // Postgres unreachable and the credential not verified recently enough: fail closed
      if (err instanceof IdentityUnavailable) {
        // the operator's only trace of an outage: its cause (a name not resolving, a refused port)
        log.warn("identity store unreachable", {
          path,
          message: causeOf(err) ?? "no successful read within STALE_IDENTITY_MAX_SECONDS",
        });
        c.header("Retry-After", "5");
        return c.json({ error: "identity_unavailable", message: err.message }, 503);
      }
      throw err;
    }
    const { identity, hadToken, refreshDue } = verdict;
    const navigation = isBrowserNavigation(headers, path) && (method === "GET" || method === "HEAD");
    if (identity && refreshDue && navigation && identity.via === "session") {
      // the IdP tokens behind the session are due: refresh (or log in again) and come back
      return c.redirect(`${origin}/auth/refresh?rd=${encodeURIComponent(originalUrl(headers, origin, uri))}`, 302);
    }
    authOutcomes.inc({
      credential: identity ? identity.via : hadToken ? "bearer" : "none",
      outcome: identity ? "ok" : hadToken ? "invalid" : "missing",
    });
    if (!identity) {
      if (!hadToken && isBrowserNavigation(headers, path)) {
        return c.redirect(`${origin}/auth/login?rd=${encodeURIComponent(originalUrl(headers, origin, uri))}`, 302);
      }
      c.header(
        "WWW-Authenticate",
        `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource${path === "/" ? "" : path}"${hadToken ? ', error="invalid_token"' : ""}`,
      );
      return c.json(
        hadToken
          ? { error: "invalid_token", message: "the credential is not valid" }
          : {
              error: "unauthenticated",
              message: "credentials required: Authorization: Bearer <API key or token>, or log in at /auth/login",
            },
        401,
      );
    }
    c.header("X-User-Email", identity.email);
    c.header("X-User-Groups", identity.groups.join(","));
    c.header("X-User-Admin", String(identity.admin));
    c.header("X-Identity-Assertion", await signAssertion(identity, env.IDENTITY_SECRET));
    c.header("Cache-Control", "no-store");
    return c.body(null, 200);
  });
}
