import { z } from "zod";
import {
  DatabaseUrl,
  IdentitySecret,
  PoolMax,
  PublicUrl,
  REQUEST_LIMIT_VARS,
  Switch,
  OBSERVE_VARS,
  ServiceSecret,
} from "../../../shared/env";
import { API_KEY_PREFIX } from "../../../shared/repos/apikeys.repo";
import { SECRETS_KEY_VARS } from "../../../shared/secrets";

const csv = z
  .string()
  .optional()
  .transform((s) => (s ?? "").split(/[\s,]+/).filter(Boolean));

/** Default allow-list of IdP token algorithms (never `none`, never HMAC). */
export const DEFAULT_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];

/**
 * The auth worker's variables (the one list; the workerd configs bind exactly these). Settings
 * that would be accepted but do nothing are refused here, with the variable and the fix named
 * (checked by `npm start` before workerd starts, and by the worker on its first request).
 */
export const AuthEnv = z
  .object({
    /** Traces and /metrics (shared/env.ts OBSERVE_VARS). */
    ...OBSERVE_VARS,
    /** Service assertions for /metrics between workers (the edge gathers every worker's figures). Optional here. */
    SERVICE_SECRET: ServiceSecret.optional(),
    DATABASE_URL: DatabaseUrl,
    /** Postgres connections this worker keeps open per process (its PgPool Durable Object). Default 4. */
    PG_POOL_MAX: PoolMax,
    IDENTITY_SECRET: IdentitySecret,
    /** Public origin, e.g. https://gateway.example.com (required: the accepted token audiences derive from it). */
    PUBLIC_URL: PublicUrl,
    /** Key of the encrypted session and login-state cookies (AES-GCM, derived with HKDF). */
    COOKIE_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    /** OpenID Connect provider (issuer URL, discovery at `<issuer>/.well-known/openid-configuration`). */
    OIDC_ISSUER: z.string().url().optional(),
    OIDC_CLIENT_ID: z.string().optional(),
    OIDC_CLIENT_SECRET: z.string().optional(),
    /** Scopes of the browser login. Default `openid email profile`. */
    OIDC_SCOPES: z.string().optional().default("openid email profile"),
    /** ID-token (and access-token) claim holding the user's groups. Default `groups`. */
    OIDC_GROUPS_CLAIM: z.string().optional().default("groups"),
    /**
     * Further audiences accepted on IdP bearer tokens outside /admin (comma-separated). Default none:
     * only the resource `<PUBLIC_URL>/mcp` (and `<PUBLIC_URL>/mcp/<server>` on that path), never the client id.
     */
    OIDC_AUDIENCE: csv,
    /** Audiences accepted on IdP bearer tokens on /admin (comma-separated). Default `<PUBLIC_URL>/admin`. */
    OIDC_ADMIN_AUDIENCE: csv,
    /** Signature algorithms accepted on IdP tokens (exact JOSE names, asymmetric only). Default: all of {@link DEFAULT_ALGORITHMS}. */
    OIDC_ALGORITHMS: csv,
    /**
     * Whether the IdP's e-mail counts only with `email_verified: true` (default 1). 0 is for an IdP
     * that sends no email_verified (Microsoft Entra ID): then `email`, else an e-mail-shaped
     * `preferred_username` or `upn`, is taken as given - only for a directory you control.
     */
    OIDC_REQUIRE_EMAIL_VERIFIED: Switch(true),
    /** Hosts (besides PUBLIC_URL's) the login may return to. */
    ALLOWED_REDIRECT_HOSTS: csv,
    /** Longest life of a browser session in seconds, refreshes included. Default 43200 (12 h). */
    SESSION_MAX_AGE: z.coerce.number().int().positive().optional().default(43200),
    /** Open WebUI's WEBUI_SECRET_KEY: validates its session tokens locally. */
    WEBUI_SECRET_KEY: z.string().optional(),
    /** Open WebUI's base URL: session tokens are introspected at `<OWUI_URL>/api/v1/auths/`. */
    OWUI_URL: z.string().url().optional(),
    /** Trust Open WebUI's X-OpenWebUI-User-* headers (only with OWUI_SERVICE_KEY as the bearer). Default off. */
    OWUI_FORWARDED_HEADERS: Switch(false),
    /** The service key Open WebUI sends as `Authorization: Bearer` when forwarding user headers. */
    OWUI_SERVICE_KEY: z.string().min(24, "must be at least 24 characters").optional(),
    /**
     * How long (ms) an isolate trusts its last read of the catalog version before checking again
     * (in the background; inline past 1.5 s). Cached identities are dropped when it moves. Default 500.
     */
    IDENTITY_VERSION_TTL_MS: z.coerce.number().int().min(0).max(1500).optional().default(500),
    /**
     * While Postgres is unreachable, identities cached before keep working this many seconds after
     * the last successful version check; then requests fail closed with 503. Default 60; 0 = fail at once.
     */
    STALE_IDENTITY_MAX_SECONDS: z.coerce.number().int().min(0).optional().default(60),
    /** Seals users' upstream tokens when they connect (per-user servers; SECRETS_KEY_PREVIOUS during a rotation). */
    ...SECRETS_KEY_VARS,
    /** Header and body limits (shared/middleware/request-limits); no per-user rate limit here (no user yet). */
    ...REQUEST_LIMIT_VARS,
  })
  .superRefine((env, ctx) => {
    const refuse = (name: string, message: string) => ctx.addIssue({ code: "custom", path: [name], message });
    if (env.OIDC_ISSUER && !env.OIDC_CLIENT_ID)
      refuse(
        "OIDC_ISSUER",
        "is set without OIDC_CLIENT_ID: set OIDC_CLIENT_ID (the gateway's client at the provider) or unset OIDC_ISSUER",
      );
    if (!env.OIDC_ISSUER) {
      for (const name of ["OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"] as const)
        if (env[name])
          refuse(name, "is set without OIDC_ISSUER: set OIDC_ISSUER (the provider's issuer URL) or unset it");
    }
    const unknown = env.OIDC_ALGORITHMS.filter((a) => !DEFAULT_ALGORITHMS.includes(a));
    if (unknown.length)
      refuse(
        "OIDC_ALGORITHMS",
        `names ${unknown.join(", ")}: use exact JOSE names from ${DEFAULT_ALGORITHMS.join(", ")} (case matters; none and HS* are never accepted)`,
      );
    const mcpAudiences = new Set([`${env.PUBLIC_URL}/mcp`, ...env.OIDC_AUDIENCE]);
    const adminAudiences = env.OIDC_ADMIN_AUDIENCE.length ? env.OIDC_ADMIN_AUDIENCE : [`${env.PUBLIC_URL}/admin`];
    const shared = adminAudiences.filter((a) => mcpAudiences.has(a));
    if (shared.length)
      refuse(
        "OIDC_ADMIN_AUDIENCE",
        `shares ${shared.join(", ")} with the /mcp audiences (OIDC_AUDIENCE, <PUBLIC_URL>/mcp): an /mcp token would be an admin credential; give /admin an audience of its own`,
      );
    if (env.WEBUI_SECRET_KEY && !env.OWUI_URL)
      refuse(
        "WEBUI_SECRET_KEY",
        "is set without OWUI_URL: Open WebUI tokens name only a user id, the e-mail comes from <OWUI_URL>/api/v1/auths/; set OWUI_URL or unset WEBUI_SECRET_KEY",
      );
    if (env.OWUI_FORWARDED_HEADERS && !env.OWUI_SERVICE_KEY)
      refuse(
        "OWUI_FORWARDED_HEADERS",
        "is 1 without OWUI_SERVICE_KEY: forwarded headers are trusted only with that key as the bearer; set OWUI_SERVICE_KEY or unset OWUI_FORWARDED_HEADERS",
      );
    if (env.OWUI_SERVICE_KEY && !env.OWUI_FORWARDED_HEADERS)
      refuse(
        "OWUI_SERVICE_KEY",
        "is set without OWUI_FORWARDED_HEADERS=1: the key is used only with forwarded headers; set OWUI_FORWARDED_HEADERS=1 or unset OWUI_SERVICE_KEY",
      );
    if (env.OWUI_SERVICE_KEY?.startsWith(API_KEY_PREFIX))
      refuse(
        "OWUI_SERVICE_KEY",
        `starts with ${API_KEY_PREFIX}, which marks the gateway's own API keys (never read as the service key): choose a key without that prefix, e.g. openssl rand -hex 32`,
      );
  });
export type AuthEnv = z.infer<typeof AuthEnv>;
