/**
 * Who is calling: each credential the gateway accepts, tried in a fixed order, mapped to a user.
 *
 * 1. the browser session cookie;
 * 2. `Authorization: Bearer`:
 *    a. a project API key (`mcpgw_...`);
 *    b. a JWT from the OIDC provider (JWKS, issuer, audience = OIDC_AUDIENCE or the client id or
 *       the MCP resource URL, expiry, asymmetric algorithms only) - Open WebUI's `system_oauth`;
 *    c. an Open WebUI session token (HS256 JWT with claim `id`): checked with WEBUI_SECRET_KEY when
 *       set, and introspected at `<OWUI_URL>/api/v1/auths/` for the email (cached 60 s);
 *    d. the OWUI_SERVICE_KEY together with `X-OpenWebUI-User-Email` (only with OWUI_FORWARDED_HEADERS=1).
 * Groups are the user's groups in Postgres plus the IdP's; admins are users.is_admin or members
 * of `mcp-admin`. Bearer identities are cached in isolate memory against the catalog version
 * (identity.cache.ts), so a warm request does not touch Postgres.
 */
import { decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import type { WaitUntil } from "../../../shared/cache/versioned";
import { sha256Hex, timingSafeEqual } from "../../../shared/crypto";
import type { Identity } from "../../../shared/identity";
import { API_KEY_PREFIX } from "../../../shared/repos/apikeys.repo";
import type { UserFacts } from "../../../shared/repos/sessions.repo";
import { ADMIN_GROUP } from "../../../shared/schemas";
import type { AuthDb } from "./db";
import type { AuthEnv } from "./env";
import { cachedIdentity, touchKeyLater } from "./identity.cache";
import { emailFromClaims, groupsFromClaims, oidcConfig, verifyProviderJwt } from "./oidc.client";
import type { Session } from "./session";

/** The outcome: an identity, or why not (`none`: no credential at all; `invalid`: a bad one). */
export type Verdict = { identity: Identity; session?: Session } | { identity: null; reason: "none" | "invalid" };

/** Merges Postgres facts with the IdP's groups into the identity the workers receive. */
export function toIdentity(facts: UserFacts, idpGroups: string[], via: string): Identity {
  const groups = [...new Set([...facts.groups, ...idpGroups.map((g) => g.toLowerCase())])].sort();
  return { email: facts.email, groups, admin: facts.isAdmin || groups.includes(ADMIN_GROUP), via };
}

/** The bearer token of an Authorization header, or null. */
export function bearerToken(headers: Headers): string | null {
  const m = headers.get("authorization")?.match(/^Bearer\s+(\S+)\s*$/i);
  return m ? m[1]! : null;
}

// ---- Open WebUI introspection cache (isolate memory) ----

const OWUI_CACHE_MS = 60_000;
const OWUI_CACHE_MAX = 2000;
const owuiCache = new Map<string, { at: number; user: { email: string; name: string } | null }>();

/** Asks Open WebUI who a token belongs to (`GET <OWUI_URL>/api/v1/auths/`); cached 60 s. */
export async function introspectOpenWebUI(owuiUrl: string, token: string): Promise<{ email: string; name: string } | null> {
  const key = await sha256Hex(`${owuiUrl}\0${token}`);
  const hit = owuiCache.get(key);
  if (hit && Date.now() - hit.at < OWUI_CACHE_MS) return hit.user;
  let user: { email: string; name: string } | null = null;
  let cacheable = true;
  try {
    const res = await fetch(`${owuiUrl.replace(/\/$/, "")}/api/v1/auths/`, { headers: { authorization: `Bearer ${token}`, accept: "application/json" } });
    if (res.ok) {
      const body = (await res.json().catch(() => null)) as { email?: unknown; name?: unknown } | null;
      const email = typeof body?.email === "string" && /^[^\s@]+@[^\s@]+$/.test(body.email) ? body.email.toLowerCase() : null;
      if (email) user = { email, name: typeof body?.name === "string" ? body.name : "" };
    } else if (res.status >= 500) cacheable = false;
  } catch {
    cacheable = false; // Open WebUI unreachable: do not remember a refusal
  }
  if (cacheable) {
    if (owuiCache.size >= OWUI_CACHE_MAX) owuiCache.delete(owuiCache.keys().next().value!);
    owuiCache.set(key, { at: Date.now(), user });
  }
  return user;
}

function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/** Audiences an IdP bearer token may carry for a request to `path` on `origin`. */
export function acceptedAudiences(env: AuthEnv, origin: string, path: string): string[] {
  const out = new Set<string>(env.OIDC_AUDIENCE.length ? env.OIDC_AUDIENCE : env.OIDC_CLIENT_ID ? [env.OIDC_CLIENT_ID] : []);
  out.add(`${origin}/mcp`);
  if (path.startsWith("/mcp/")) out.add(`${origin}${path.split("?")[0]!.replace(/\/+$/, "")}`);
  return [...out];
}

/**
 * Identifies a bearer token (steps 2a-2d). `db` is the worker's Postgres pool.
 * Returns null when the token is not valid.
 */
export async function identifyBearer(env: AuthEnv, db: AuthDb, ctx: WaitUntil, token: string, headers: Headers, origin: string, path: string): Promise<Identity | null> {
  // (a) the project's API keys
  if (token.startsWith(API_KEY_PREFIX)) {
    if (token.length > 200) return null;
    const found = await cachedIdentity(env, db, ctx, `apikey\0${token}`, async () => {
      const owner = await db.run("findKeyOwner", token);
      if (!owner) return null;
      const facts = await db.run("userFacts", owner.email);
      return facts ? { identity: toIdentity(facts, [], "apikey"), keyId: owner.keyId, until: owner.expiresAt?.getTime() } : null;
    });
    if (!found) return null;
    if (found.keyId) touchKeyLater(db, ctx, found.keyId);
    return found.identity;
  }
  if (looksLikeJwt(token)) {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: ReturnType<typeof decodeJwt>;
    try {
      header = decodeProtectedHeader(token);
      claims = decodeJwt(token);
    } catch {
      return null;
    }
    // (b) a token from the identity provider
    const cfg = oidcConfig(env);
    if (cfg && typeof claims.iss === "string" && claims.iss.replace(/\/$/, "") === cfg.issuer) {
      const audiences = acceptedAudiences(env, origin, path);
      // cached per token and accepted audiences, never past the token's expiry
      const found = await cachedIdentity(env, db, ctx, `oidc\0${audiences.join(" ")}\0${token}`, async () => {
        const verified = await verifyProviderJwt(cfg, token, audiences);
        if (!verified) return null;
        const email = emailFromClaims(verified);
        if (!email) return null;
        const idpGroups = groupsFromClaims(verified, cfg.groupsClaim);
        const facts = await db.run("syncIdpGroups", await db.run("ensureUserFacts", email, typeof verified.name === "string" ? verified.name : ""), idpGroups, ADMIN_GROUP);
        return { identity: toIdentity(facts, idpGroups, "oidc-bearer"), until: typeof verified.exp === "number" ? verified.exp * 1000 : Date.now() + 60_000 };
      });
      return found?.identity ?? null;
    }
    // (c) an Open WebUI session token
    if (header.alg === "HS256" && typeof claims.id === "string" && claims.iss === undefined && (env.WEBUI_SECRET_KEY || env.OWUI_URL)) {
      if (env.WEBUI_SECRET_KEY) {
        try {
          await jwtVerify(token, new TextEncoder().encode(env.WEBUI_SECRET_KEY), { algorithms: ["HS256"], requiredClaims: ["id"] });
        } catch {
          return null;
        }
      }
      if (!env.OWUI_URL) return null; // the token names only an Open WebUI user id; the email comes from Open WebUI
      const owuiUrl = env.OWUI_URL;
      // cached as long as the introspection answer (60 s)
      const found = await cachedIdentity(env, db, ctx, `owui\0${owuiUrl}\0${token}`, async () => {
        const user = await introspectOpenWebUI(owuiUrl, token);
        if (!user) return null;
        const facts = await db.run("ensureUserFacts", user.email, user.name);
        return { identity: toIdentity(facts, [], "owui-session"), until: Date.now() + OWUI_CACHE_MS };
      });
      return found?.identity ?? null;
    }
  }
  // (d) Open WebUI's forwarded user headers, vouched for by the service key
  if (env.OWUI_FORWARDED_HEADERS && env.OWUI_SERVICE_KEY && timingSafeEqual(token, env.OWUI_SERVICE_KEY)) {
    const email = headers.get("x-openwebui-user-email")?.trim().toLowerCase();
    if (!email || !/^[^\s@,]+@[^\s@,]+$/.test(email) || email.length > 254) return null;
    const name = headers.get("x-openwebui-user-name") ?? "";
    const found = await cachedIdentity(env, db, ctx, `owui-headers\0${email}\0${name}`, async () => ({
      identity: toIdentity(await db.run("ensureUserFacts", email, name), [], "owui-headers"),
    }));
    return found?.identity ?? null;
  }
  return null;
}

/** Identifies a browser session (step 1): the user must still exist and the session not be revoked. */
export async function identifySession(db: AuthDb, session: Session): Promise<Identity | null> {
  const facts = await db.run("userFacts", session.email, session.sid);
  return facts ? toIdentity(facts, session.groups, "session") : null;
}
