import { z } from "zod";
import { BoolFlag, DatabaseUrl, IdentitySecret, PoolMax, REQUEST_LIMIT_VARS } from "../../../shared/env";

const csv = z
  .string()
  .optional()
  .transform((s) => (s ?? "").split(/[\s,]+/).filter(Boolean));

/** The auth worker's variables (the one list; the workerd configs bind exactly these). */
export const AuthEnv = z.object({
  DATABASE_URL: DatabaseUrl,
  /** Postgres connections this worker keeps open per process (its PgPool Durable Object). Default 4. */
  PG_POOL_MAX: PoolMax,
  IDENTITY_SECRET: IdentitySecret,
  /** Public origin, e.g. https://gateway.example.com; defaults to the request's origin. */
  PUBLIC_URL: z.string().url().optional(),
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
  /** Accepted audiences of IdP bearer tokens (comma-separated). Default: the client id. `<PUBLIC_URL>/mcp` is always accepted. */
  OIDC_AUDIENCE: csv,
  /** Signature algorithms accepted on IdP tokens. Default: the asymmetric JOSE algorithms. */
  OIDC_ALGORITHMS: csv,
  /** Hosts (besides PUBLIC_URL's) the login may return to. */
  ALLOWED_REDIRECT_HOSTS: csv,
  /** Longest life of a browser session in seconds, refreshes included. Default 43200 (12 h). */
  SESSION_MAX_AGE: z.coerce.number().int().positive().optional().default(43200),
  /** Open WebUI's WEBUI_SECRET_KEY: validates its session tokens locally. */
  WEBUI_SECRET_KEY: z.string().optional(),
  /** Open WebUI's base URL: session tokens are introspected at `<OWUI_URL>/api/v1/auths/`. */
  OWUI_URL: z.string().url().optional(),
  /** Trust Open WebUI's X-OpenWebUI-User-* headers (only with OWUI_SERVICE_KEY as the bearer). Default off. */
  OWUI_FORWARDED_HEADERS: BoolFlag,
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
  /** Header and body limits (shared/middleware/request-limits); no per-user rate limit here (no user yet). */
  ...REQUEST_LIMIT_VARS,
});
export type AuthEnv = z.infer<typeof AuthEnv>;

/** Default allow-list of IdP token algorithms (never `none`, never HMAC). */
export const DEFAULT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];
