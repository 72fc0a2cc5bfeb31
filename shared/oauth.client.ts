/**
 * The gateway as an OAuth 2.1 client of an upstream's authorization server (per-user-oauth
 * servers, shared/credentials.ts): endpoint discovery (RFC 9728 protected resource metadata ->
 * RFC 8414 authorization server metadata, else OpenID discovery), the authorization URL
 * (code + PKCE S256 + RFC 8707 `resource`), code exchange, refresh and RFC 7009 revocation. Used
 * by the auth worker (the browser's connect flow; revocation on disconnect) and the catalog
 * worker (refresh when a token is due).
 *
 * Errors are {@link OAuthClientError}: their messages name the step and the server's error code,
 * never a token or the client secret.
 */
import { z } from "zod";
import type { StoredCredentials } from "./credentials";

export class OAuthClientError extends Error {
  constructor(
    /** `discovery`, `token` (the server refused: e.g. invalid_grant), or `network`. */
    readonly step: "discovery" | "token" | "network",
    message: string,
    /** The authorization server's `error` code, when it sent one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** The endpoints a flow needs. */
export interface OAuthEndpoints {
  issuer: string | null;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  /** Whether the token endpoint takes client_secret_basic (else client_secret_post). */
  basicAuth: boolean;
  /** RFC 7009 revocation endpoint, when the server has one (configured, else its metadata). */
  revocationEndpoint: string | null;
}

/** A server's OAuth client: endpoints, client id, secret (opened), scopes and resource. */
export interface OAuthClient extends OAuthEndpoints {
  clientId: string;
  clientSecret: string | null;
  scopes: string;
  resource: string;
}

const AsMetadata = z.object({
  issuer: z.string().optional(),
  authorization_endpoint: z.string().url(),
  token_endpoint: z.string().url(),
  token_endpoint_auth_methods_supported: z.array(z.string()).optional(),
  revocation_endpoint: z.string().url().optional(),
});

const TIMEOUT_MS = 10_000;

async function getJson(url: string): Promise<unknown | null> {
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: "manual",
    });
  } catch (err) {
    throw new OAuthClientError(
      "network",
      `${new URL(url).origin} unreachable: ${String((err as Error)?.message ?? err)}`,
    );
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    return null;
  }
  return res.json().catch(() => null);
}

/** RFC 9728: the issuer named by the protected resource metadata of `resourceUrl`, or null. */
async function issuerOfResource(resourceUrl: string): Promise<string | null> {
  const u = new URL(resourceUrl);
  const path = u.pathname === "/" ? "" : u.pathname.replace(/\/$/, "");
  for (const candidate of [
    `${u.origin}/.well-known/oauth-protected-resource${path}`,
    `${u.origin}/.well-known/oauth-protected-resource`,
  ]) {
    const doc = (await getJson(candidate)) as { authorization_servers?: unknown } | null;
    const first = Array.isArray(doc?.authorization_servers) ? doc!.authorization_servers[0] : undefined;
    if (typeof first === "string" && /^https?:\/\//.test(first)) return first;
  }
  return null;
}

/** RFC 8414 metadata of `issuer`, else its OpenID discovery document. */
async function metadataOf(issuer: string): Promise<z.infer<typeof AsMetadata>> {
  const u = new URL(issuer);
  const path = u.pathname === "/" ? "" : u.pathname.replace(/\/$/, "");
  for (const candidate of [
    `${u.origin}/.well-known/oauth-authorization-server${path}`,
    `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`,
  ]) {
    const parsed = AsMetadata.safeParse(await getJson(candidate));
    if (parsed.success) return parsed.data;
  }
  throw new OAuthClientError("discovery", `no authorization server metadata at ${issuer}`);
}

/**
 * The endpoints for a server's settings: configured ones win; else the issuer (configured, or
 * named by the upstream's RFC 9728 metadata) is asked. Throws {@link OAuthClientError}.
 */
export async function discoverEndpoints(
  upstreamUrl: string,
  oauth: NonNullable<StoredCredentials["oauth"]>,
): Promise<OAuthEndpoints> {
  const key = JSON.stringify([
    upstreamUrl,
    oauth.issuer,
    oauth.authorizationEndpoint,
    oauth.tokenEndpoint,
    oauth.revocationEndpoint,
  ]);
  const hit = discovered.get(key);
  if (hit && Date.now() - hit.at < DISCOVERY_TTL_MS) return hit.endpoints;
  const endpoints = await discoverUncached(upstreamUrl, oauth);
  if (discovered.size > 256) discovered.clear();
  discovered.set(key, { at: Date.now(), endpoints });
  return endpoints;
}

/** How long discovered endpoints are kept per isolate (ms). */
const DISCOVERY_TTL_MS = 10 * 60_000;
const discovered = new Map<string, { at: number; endpoints: OAuthEndpoints }>();

async function discoverUncached(
  upstreamUrl: string,
  oauth: NonNullable<StoredCredentials["oauth"]>,
): Promise<OAuthEndpoints> {
  if (oauth.authorizationEndpoint && oauth.tokenEndpoint) {
    return {
      issuer: oauth.issuer ?? null,
      authorizationEndpoint: oauth.authorizationEndpoint,
      tokenEndpoint: oauth.tokenEndpoint,
      basicAuth: true,
      revocationEndpoint: oauth.revocationEndpoint ?? null,
    };
  }
  const issuer = oauth.issuer ?? (await issuerOfResource(upstreamUrl));
  if (!issuer)
    throw new OAuthClientError(
      "discovery",
      "the upstream publishes no protected resource metadata (RFC 9728) naming an authorization server; configure oauth.issuer or both endpoints",
    );
  const md = await metadataOf(issuer);
  const methods = md.token_endpoint_auth_methods_supported ?? ["client_secret_basic"];
  return {
    issuer: md.issuer ?? issuer,
    authorizationEndpoint: oauth.authorizationEndpoint ?? md.authorization_endpoint,
    tokenEndpoint: oauth.tokenEndpoint ?? md.token_endpoint,
    basicAuth: methods.includes("client_secret_basic"),
    revocationEndpoint: oauth.revocationEndpoint ?? md.revocation_endpoint ?? null,
  };
}

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** PKCE S256 challenge of a verifier. */
export async function pkceS256(verifier: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
}

/** The authorization URL the user's browser goes to. */
export async function authorizeUrl(
  client: OAuthClient,
  p: { redirectUri: string; state: string; verifier: string },
): Promise<string> {
  const url = new URL(client.authorizationEndpoint);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", client.clientId);
  url.searchParams.set("redirect_uri", p.redirectUri);
  if (client.scopes) url.searchParams.set("scope", client.scopes);
  url.searchParams.set("state", p.state);
  url.searchParams.set("code_challenge", await pkceS256(p.verifier));
  url.searchParams.set("code_challenge_method", "S256");
  url.searchParams.set("resource", client.resource);
  return url.toString();
}

const TokenAnswer = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.coerce.number().positive().optional(),
  scope: z.string().optional(),
  token_type: z.string().optional(),
});
export type TokenAnswer = z.infer<typeof TokenAnswer>;

type ClientAuth = Pick<OAuthClient, "clientId" | "clientSecret" | "basicAuth">;

/** A form body and headers authenticated as the client (basic, post, or a public client's id). */
function authenticated(
  client: ClientAuth,
  params: Record<string, string>,
): { body: URLSearchParams; headers: Record<string, string> } {
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    accept: "application/json",
  };
  if (!client.clientSecret) body.set("client_id", client.clientId);
  else if (client.basicAuth)
    headers.authorization = `Basic ${btoa(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`)}`;
  else {
    body.set("client_id", client.clientId);
    body.set("client_secret", client.clientSecret);
  }
  return { body, headers };
}

/**
 * POSTs an authenticated form to one of the authorization server's endpoints (`name`, for the
 * errors) and returns its JSON answer (null when it is not JSON). Throws {@link OAuthClientError}
 * when the server cannot be reached or refuses (`refused`: what it refused); the message names the
 * server's error code, never a parameter.
 */
async function postForm(
  endpoint: string,
  client: ClientAuth,
  params: Record<string, string>,
  name: string,
  refused: string,
): Promise<Record<string, unknown> | null> {
  const { body, headers } = authenticated(client, params);
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: "POST",
      headers,
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: "manual",
    });
  } catch (err) {
    throw new OAuthClientError("network", `${name} unreachable: ${String((err as Error)?.message ?? err)}`);
  }
  const json = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  if (!res.ok) {
    const code = typeof json?.error === "string" ? json.error.slice(0, 64) : undefined;
    throw new OAuthClientError(
      "token",
      `the authorization server refused ${refused} (${code ?? `HTTP ${res.status}`})`,
      code,
    );
  }
  return json;
}

async function tokenRequest(
  client: Pick<OAuthClient, "tokenEndpoint"> & ClientAuth,
  params: Record<string, string>,
): Promise<TokenAnswer> {
  const json = await postForm(client.tokenEndpoint, client, params, "token endpoint", "the token request");
  const parsed = TokenAnswer.safeParse(json);
  if (!parsed.success)
    throw new OAuthClientError("token", "the authorization server's token answer has no access_token");
  return parsed.data;
}

/** Exchanges an authorization code (with its PKCE verifier) for tokens, for `resource`. */
export function exchangeCode(
  client: OAuthClient,
  code: string,
  verifier: string,
  redirectUri: string,
): Promise<TokenAnswer> {
  return tokenRequest(client, {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: redirectUri,
    resource: client.resource,
  });
}

/** Uses a refresh token at the token endpoint the connection recorded. */
export function refreshToken(
  client: Pick<OAuthClient, "tokenEndpoint" | "clientId" | "clientSecret" | "basicAuth" | "resource">,
  refresh: string,
): Promise<TokenAnswer> {
  return tokenRequest(client, { grant_type: "refresh_token", refresh_token: refresh, resource: client.resource });
}

/**
 * RFC 7009: revokes `token` at the client's revocation endpoint (the caller checks there is
 * one). Throws {@link OAuthClientError} when the server cannot be reached or refuses; the
 * message names the server's error code, never the token.
 */
export async function revokeToken(
  client: { revocationEndpoint: string } & ClientAuth,
  token: string,
  hint: "refresh_token" | "access_token",
): Promise<void> {
  await postForm(
    client.revocationEndpoint,
    client,
    { token, token_type_hint: hint },
    "revocation endpoint",
    "the revocation",
  );
}
