/**
 * Who is calling: each credential the gateway accepts, tried in a fixed order, mapped to a user.
 * `path` is the request's normalised path (shared/edge.ts normalisePath): it decides which
 * audiences and which credentials count.
 *
 * 1. the browser session cookie;
 * 2. `Authorization: Bearer`:
 *    a. a project API key (`mcpgw_...`);
 *    b. a JWT from the OIDC provider (JWKS, issuer, expiry, asymmetric algorithms only, audience:
 *       on `/admin` only `<PUBLIC_URL>/admin` or OIDC_ADMIN_AUDIENCE; elsewhere only the MCP
 *       resource `<PUBLIC_URL>/mcp[/<server>]` plus OIDC_AUDIENCE - never the gateway's client
 *       id, so its ID tokens are not bearer tokens), naming a verified e-mail
 *       (OIDC_REQUIRE_EMAIL_VERIFIED) - Open WebUI's `system_oauth`, OAuth 2.1 clients;
 *    c. on `/mcp` only: an Open WebUI session token (HS256 JWT with claim `id`), checked with
 *       WEBUI_SECRET_KEY when set and introspected at `<OWUI_URL>/api/v1/auths/` for the e-mail
 *       of an active account (role `user` or `admin`, never `pending`; cached 60 s);
 *    d. on `/mcp` only: the OWUI_SERVICE_KEY with `X-OpenWebUI-User-Email` (OWUI_FORWARDED_HEADERS=1),
 *       never for an admin (refused with 403: forwarded headers cannot vouch for an admin);
 *    e. any other opaque token: an API key chosen by the operator (ADMIN_API_KEY, any printable
 *       string of 16-200 characters), found by its hash like (a) and cached the same way.
 * Groups are the user's groups in Postgres plus the IdP's; admins are users.is_admin or members
 * of `mcp-admin`. Bearer identities are cached in isolate memory against the catalog version
 * (identity.cache.ts), so a warm request does not touch Postgres.
 */
import { decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import type { WaitUntil } from "../../../shared/cache/versioned";
import { sha256Hex, timingSafeEqual } from "../../../shared/crypto";
import type { Identity } from "../../../shared/identity";
import { isAdminPath } from "../../../shared/edge";
import { isMcpPath } from "../../../shared/http";
import { API_KEY_PREFIX, isApiKeyShaped } from "../../../shared/repos/apikeys.repo";
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

/** A credential that is valid but may not be used for this request: answered with its status. */
export class CredentialRefused extends Error {
  constructor(
    readonly status: 403,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The bearer token of an Authorization header (inner spaces kept: an operator's key may have them), or null. */
export function bearerToken(headers: Headers): string | null {
  const m = headers.get("authorization")?.match(/^Bearer[ \t]+(\S(?:.*\S)?)[ \t]*$/is);
  return m ? m[1]! : null;
}

// ---- Open WebUI introspection cache (isolate memory) ----

const OWUI_CACHE_MS = 60_000;
const OWUI_CACHE_MAX = 2000;
const owuiCache = new Map<string, { at: number; user: { email: string; name: string } | null }>();

/**
 * Which Open WebUI accounts may act through the gateway, from `GET /api/v1/auths/` (Open WebUI's
 * SessionUserResponse: `id`, `email`, `name`, `role`, `profile_image_url`, token fields): an
 * e-mail, role `user` or `admin` (a `pending` account awaits its admin's approval; Open WebUI
 * itself refuses it everything), no `is_active: false`/`active: false`, and the id the token names.
 */
export function activeOpenWebUIUser(body: unknown, tokenId: string): { email: string; name: string } | null {
  if (!body || typeof body !== "object") return null;
  const b = body as Record<string, unknown>;
  if (typeof b.email !== "string" || !/^[^\s@,]+@[^\s@,]+$/.test(b.email) || b.email.length > 254) return null;
  if (b.role !== "user" && b.role !== "admin") return null;
  if (b.is_active === false || b.active === false) return null;
  if (b.id !== undefined && b.id !== tokenId) return null;
  return { email: b.email.toLowerCase(), name: typeof b.name === "string" ? b.name : "" };
}

/** Asks Open WebUI who a token belongs to (`GET <OWUI_URL>/api/v1/auths/`; {@link activeOpenWebUIUser}); cached 60 s. */
export async function introspectOpenWebUI(
  owuiUrl: string,
  token: string,
  tokenId: string,
): Promise<{ email: string; name: string } | null> {
  const key = await sha256Hex(`${owuiUrl}\0${token}`);
  const hit = owuiCache.get(key);
  if (hit && Date.now() - hit.at < OWUI_CACHE_MS) return hit.user;
  let user: { email: string; name: string } | null = null;
  let cacheable = true;
  try {
    const res = await fetch(`${owuiUrl.replace(/\/$/, "")}/api/v1/auths/`, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
    });
    if (res.ok) user = activeOpenWebUIUser(await res.json().catch(() => null), tokenId);
    else if (res.status >= 500) cacheable = false;
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

/** A JWT's header and claims, unverified; null when it does not decode (then it may be an operator's key). */
function decodeParts(
  token: string,
): { header: ReturnType<typeof decodeProtectedHeader>; claims: ReturnType<typeof decodeJwt> } | null {
  try {
    return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
  } catch {
    return null;
  }
}

/**
 * Audiences an IdP bearer token may carry for a request to `path` (normalised) on `origin`
 * (PUBLIC_URL): on `/admin` only the admin audience (OIDC_ADMIN_AUDIENCE, default
 * `<origin>/admin`), so an `/mcp` token is no admin credential; elsewhere the MCP resource
 * (`<origin>/mcp`, and `<origin>/mcp/<server>` on that path, RFC 8707) plus OIDC_AUDIENCE.
 * Never the gateway's own client id unless configured: its ID tokens are not bearer tokens.
 */
export function acceptedAudiences(env: AuthEnv, origin: string, path: string): string[] {
  if (isAdminPath(path)) return env.OIDC_ADMIN_AUDIENCE.length ? [...env.OIDC_ADMIN_AUDIENCE] : [`${origin}/admin`];
  const out = new Set<string>([`${origin}/mcp`, ...env.OIDC_AUDIENCE]);
  if (path.startsWith("/mcp/")) out.add(`${origin}${path}`);
  return [...out];
}

/** Looks an API key up by its hash (steps a and e), cached against the catalog version. */
async function identifyApiKey(env: AuthEnv, db: AuthDb, ctx: WaitUntil, token: string): Promise<Identity | null> {
  const found = await cachedIdentity(env, db, ctx, `apikey\0${token}`, async () => {
    const owner = await db.run("findKeyOwner", token);
    if (!owner) return null;
    const facts = await db.run("userFacts", owner.email);
    return facts
      ? { identity: toIdentity(facts, [], "apikey"), keyId: owner.keyId, until: owner.expiresAt?.getTime() }
      : null;
  });
  if (!found) return null;
  if (found.keyId) touchKeyLater(db, ctx, found.keyId);
  return found.identity;
}

/**
 * Identifies a bearer token (steps 2a-2e) for a request to `path` (normalised). `db` is the
 * worker's Postgres pool. Returns null when the token is not valid; throws
 * {@link CredentialRefused} for a valid one this request may not use.
 */
export async function identifyBearer(
  env: AuthEnv,
  db: AuthDb,
  ctx: WaitUntil,
  token: string,
  headers: Headers,
  origin: string,
  path: string,
): Promise<Identity | null> {
  // (a) the project's API keys
  if (token.startsWith(API_KEY_PREFIX)) return isApiKeyShaped(token) ? identifyApiKey(env, db, ctx, token) : null;
  const jwt = looksLikeJwt(token) ? decodeParts(token) : null;
  if (jwt) {
    const { header, claims } = jwt;
    // (b) a token from the identity provider
    const cfg = oidcConfig(env);
    if (cfg && typeof claims.iss === "string" && claims.iss.replace(/\/$/, "") === cfg.issuer) {
      // an IdP token is never an operator's key: no fall-through
      const audiences = acceptedAudiences(env, origin, path);
      // cached per token and accepted audiences, never past the token's expiry
      const found = await cachedIdentity(env, db, ctx, `oidc\0${audiences.join(" ")}\0${token}`, async () => {
        const verified = await verifyProviderJwt(cfg, token, audiences);
        if (!verified) return null;
        const email = emailFromClaims(verified, cfg);
        if (!email) return null;
        const idpGroups = groupsFromClaims(verified, cfg.groupsClaim);
        const facts = await db.run(
          "syncIdpGroups",
          await db.run("ensureUserFacts", email, typeof verified.name === "string" ? verified.name : ""),
          idpGroups,
          ADMIN_GROUP,
        );
        return {
          identity: toIdentity(facts, idpGroups, "oidc-bearer"),
          until: typeof verified.exp === "number" ? verified.exp * 1000 : Date.now() + 60_000,
        };
      });
      return found?.identity ?? null;
    }
    // (c) an Open WebUI session token, a credential for /mcp only
    if (header.alg === "HS256" && typeof claims.id === "string" && claims.iss === undefined && env.OWUI_URL) {
      if (!isMcpPath(path)) return null;
      const tokenId = claims.id;
      if (env.WEBUI_SECRET_KEY) {
        try {
          await jwtVerify(token, new TextEncoder().encode(env.WEBUI_SECRET_KEY), {
            algorithms: ["HS256"],
            requiredClaims: ["id"],
          });
        } catch {
          return null;
        }
      }
      const owuiUrl = env.OWUI_URL; // the token names only an Open WebUI user id; the email comes from Open WebUI
      // cached as long as the introspection answer (60 s)
      const found = await cachedIdentity(env, db, ctx, `owui\0${owuiUrl}\0${token}`, async () => {
        const user = await introspectOpenWebUI(owuiUrl, token, tokenId);
        if (!user) return null;
        const facts = await db.run("ensureUserFacts", user.email, user.name);
        return { identity: toIdentity(facts, [], "owui-session"), until: Date.now() + OWUI_CACHE_MS };
      });
      return found?.identity ?? null;
    }
  }
  // (d) Open WebUI's forwarded user headers, vouched for by the service key: /mcp only, never an admin
  if (env.OWUI_FORWARDED_HEADERS && env.OWUI_SERVICE_KEY && timingSafeEqual(token, env.OWUI_SERVICE_KEY)) {
    if (!isMcpPath(path)) return null;
    const email = headers.get("x-openwebui-user-email")?.trim().toLowerCase();
    if (!email || !/^[^\s@,]+@[^\s@,]+$/.test(email) || email.length > 254) return null;
    const name = headers.get("x-openwebui-user-name") ?? "";
    const found = await cachedIdentity(env, db, ctx, `owui-headers\0${email}\0${name}`, async () => ({
      identity: toIdentity(await db.run("ensureUserFacts", email, name), [], "owui-headers"),
    }));
    if (found?.identity.admin) {
      throw new CredentialRefused(
        403,
        "forbidden",
        "Open WebUI's forwarded headers cannot act for an administrator; an admin connects with an API key or a token of their own",
      );
    }
    return found?.identity ?? null;
  }
  // (e) an API key the operator chose (ADMIN_API_KEY), any printable string of 16-200 characters
  if (isApiKeyShaped(token)) return identifyApiKey(env, db, ctx, token);
  return null;
}

/** Identifies a browser session (step 1): the user must still exist and the session not be revoked. */
export async function identifySession(db: AuthDb, session: Session): Promise<Identity | null> {
  const facts = await db.run("userFacts", session.email, session.sid);
  return facts ? toIdentity(facts, session.groups, "session") : null;
}
