/**
 * The gateway as an OpenID Connect relying party: discovery, the authorization URL (code flow with
 * PKCE S256, state and nonce), code exchange, refresh, and token validation with the provider's
 * JWKS (jose). Discovery documents and key sets are cached in isolate memory.
 */
import { createRemoteJWKSet, jwtVerify, errors, type JWTPayload } from "jose";
import { z } from "zod";
import { DEFAULT_ALGORITHMS, type AuthEnv } from "./env";

export interface OidcConfig {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string;
  groupsClaim: string;
  algorithms: string[];
  /** OIDC_REQUIRE_EMAIL_VERIFIED: the e-mail counts only with `email_verified: true`. */
  requireVerifiedEmail: boolean;
}

/** The OIDC settings, or null when no provider is configured. */
export function oidcConfig(env: AuthEnv): OidcConfig | null {
  if (!env.OIDC_ISSUER || !env.OIDC_CLIENT_ID) return null;
  return {
    issuer: env.OIDC_ISSUER.replace(/\/$/, ""),
    clientId: env.OIDC_CLIENT_ID,
    clientSecret: env.OIDC_CLIENT_SECRET ?? "",
    scopes: env.OIDC_SCOPES,
    groupsClaim: env.OIDC_GROUPS_CLAIM,
    // env.ts refuses any name outside DEFAULT_ALGORITHMS (never none, never HMAC)
    algorithms: env.OIDC_ALGORITHMS.length ? env.OIDC_ALGORITHMS : DEFAULT_ALGORITHMS,
    requireVerifiedEmail: env.OIDC_REQUIRE_EMAIL_VERIFIED,
  };
}

const Discovery = z.object({
  issuer: z.string(),
  authorization_endpoint: z.string().url(),
  token_endpoint: z.string().url(),
  jwks_uri: z.string().url(),
  userinfo_endpoint: z.string().url().optional(),
  end_session_endpoint: z.string().url().optional(),
  token_endpoint_auth_methods_supported: z.array(z.string()).optional(),
});
export type Discovery = z.infer<typeof Discovery>;

export class OidcError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const DISCOVERY_TTL_MS = 10 * 60_000;
const discoveries = new Map<string, { at: number; doc: Discovery }>();
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

/** The provider's discovery document (cached 10 minutes). */
export async function discover(issuer: string): Promise<Discovery> {
  const hit = discoveries.get(issuer);
  if (hit && Date.now() - hit.at < DISCOVERY_TTL_MS) return hit.doc;
  let res: Response;
  try {
    res = await fetch(`${issuer}/.well-known/openid-configuration`, { headers: { accept: "application/json" } });
  } catch (err) {
    throw new OidcError(
      "idp_unreachable",
      `the identity provider at ${issuer} is unreachable: ${(err as Error).message}`,
    );
  }
  if (!res.ok) throw new OidcError("idp_unreachable", `the identity provider's discovery answered ${res.status}`);
  const parsed = Discovery.safeParse(await res.json().catch(() => null));
  if (!parsed.success) throw new OidcError("idp_invalid", "the identity provider's discovery document is invalid");
  if (parsed.data.issuer.replace(/\/$/, "") !== issuer)
    throw new OidcError("idp_invalid", "the discovery document names another issuer");
  discoveries.set(issuer, { at: Date.now(), doc: parsed.data });
  return parsed.data;
}

function keySet(uri: string) {
  let ks = keySets.get(uri);
  if (!ks) {
    ks = createRemoteJWKSet(new URL(uri), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
    keySets.set(uri, ks);
  }
  return ks;
}

/**
 * Validates a JWT from the provider: signature with its JWKS, algorithm in the allow-list,
 * issuer, one of `audiences`, expiry. Returns the claims or null.
 */
export async function verifyProviderJwt(
  cfg: OidcConfig,
  token: string,
  audiences: string[],
  opts: { nonce?: string } = {},
): Promise<JWTPayload | null> {
  const doc = await discover(cfg.issuer);
  try {
    const { payload } = await jwtVerify(token, keySet(doc.jwks_uri), {
      issuer: doc.issuer,
      audience: audiences,
      algorithms: cfg.algorithms,
      requiredClaims: ["exp", "sub"],
      clockTolerance: 30,
    });
    if (opts.nonce !== undefined && payload.nonce !== opts.nonce) return null;
    return payload;
  } catch (err) {
    if (err instanceof errors.JOSEError) return null;
    throw err;
  }
}

/** The user's groups from a claim (dot path allowed, e.g. `realm_access.roles`), normalised: lower case, leading `/` removed, only valid group names. */
export function groupsFromClaims(claims: Record<string, unknown>, claim: string): string[] {
  let v: unknown = claims;
  for (const part of claim.split("."))
    v = v && typeof v === "object" ? (v as Record<string, unknown>)[part] : undefined;
  const list = Array.isArray(v) ? v : typeof v === "string" ? v.split(",") : [];
  const out = new Set<string>();
  for (const g of list) {
    if (typeof g !== "string") continue;
    const name = g.trim().replace(/^\/+/, "").toLowerCase();
    if (/^[a-z0-9][a-z0-9-]{0,31}$/.test(name)) out.add(name);
  }
  return [...out].sort();
}

const emailShaped = (v: unknown): v is string =>
  typeof v === "string" && /^[^\s@,]+@[^\s@,]+$/.test(v) && v.length <= 254;

/**
 * The e-mail a token (or userinfo answer) names, which decides which gateway user it is. With
 * `requireVerifiedEmail` (OIDC_REQUIRE_EMAIL_VERIFIED, the default) only the `email` claim
 * together with `email_verified: true` counts: an IdP that lets a user choose an unverified
 * address, or a `preferred_username`, would otherwise let them become another user. Without it
 * (an IdP such as Entra ID that sends no email_verified, explicitly opted into): `email`, else an
 * e-mail-shaped `preferred_username` or `upn`.
 */
export function emailFromClaims(
  claims: Record<string, unknown>,
  opts: { requireVerifiedEmail: boolean },
): string | null {
  if (opts.requireVerifiedEmail) {
    const verified = claims.email_verified === true || claims.email_verified === "true";
    return verified && emailShaped(claims.email) ? claims.email.toLowerCase() : null;
  }
  for (const k of ["email", "preferred_username", "upn"]) {
    const v = claims[k];
    if (emailShaped(v)) return v.toLowerCase();
  }
  return null;
}

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** PKCE S256 challenge of a verifier. */
export async function pkceChallenge(verifier: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
}

/** The provider's authorization URL for a login. */
export async function authorizationUrl(
  cfg: OidcConfig,
  p: { redirectUri: string; state: string; nonce: string; verifier: string },
): Promise<string> {
  const doc = await discover(cfg.issuer);
  const url = new URL(doc.authorization_endpoint);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", cfg.clientId);
  url.searchParams.set("redirect_uri", p.redirectUri);
  url.searchParams.set("scope", cfg.scopes);
  url.searchParams.set("state", p.state);
  url.searchParams.set("nonce", p.nonce);
  url.searchParams.set("code_challenge", await pkceChallenge(p.verifier));
  url.searchParams.set("code_challenge_method", "S256");
  return url.toString();
}

const TokenResponse = z.object({
  access_token: z.string().optional(),
  id_token: z.string().optional(),
  refresh_token: z.string().optional(),
  expires_in: z.coerce.number().optional(),
  token_type: z.string().optional(),
});
export type TokenResponse = z.infer<typeof TokenResponse>;

async function tokenRequest(cfg: OidcConfig, params: Record<string, string>): Promise<TokenResponse> {
  const doc = await discover(cfg.issuer);
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    accept: "application/json",
  };
  const methods = doc.token_endpoint_auth_methods_supported ?? ["client_secret_basic"];
  if (!cfg.clientSecret) body.set("client_id", cfg.clientId);
  else if (methods.includes("client_secret_basic")) {
    headers.authorization = `Basic ${btoa(`${encodeURIComponent(cfg.clientId)}:${encodeURIComponent(cfg.clientSecret)}`)}`;
  } else {
    body.set("client_id", cfg.clientId);
    body.set("client_secret", cfg.clientSecret);
  }
  const res = await fetch(doc.token_endpoint, { method: "POST", headers, body });
  const json = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  if (!res.ok)
    throw new OidcError(
      "token_error",
      `the identity provider refused the token request: ${String(json?.error ?? res.status)}`,
    );
  const parsed = TokenResponse.safeParse(json);
  if (!parsed.success) throw new OidcError("token_error", "the identity provider's token answer is invalid");
  return parsed.data;
}

/** Exchanges an authorization code (with its PKCE verifier) for tokens. */
export function exchangeLoginCode(
  cfg: OidcConfig,
  code: string,
  verifier: string,
  redirectUri: string,
): Promise<TokenResponse> {
  return tokenRequest(cfg, {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: redirectUri,
  });
}

/** Uses a refresh token at the provider. */
export function refreshTokens(cfg: OidcConfig, refreshToken: string): Promise<TokenResponse> {
  return tokenRequest(cfg, { grant_type: "refresh_token", refresh_token: refreshToken });
}

/** Claims from the userinfo endpoint, or null. */
export async function userinfo(cfg: OidcConfig, accessToken: string): Promise<Record<string, unknown> | null> {
  const doc = await discover(cfg.issuer);
  if (!doc.userinfo_endpoint) return null;
  const res = await fetch(doc.userinfo_endpoint, {
    headers: { authorization: `Bearer ${accessToken}`, accept: "application/json" },
  });
  if (!res.ok) return null;
  return (await res.json().catch(() => null)) as Record<string, unknown> | null;
}
