import { z } from "zod";
import {
  DatabaseUrl,
  IdentitySecret,
  PublicUrl,
  PoolMax,
  RATE_LIMIT_VARS,
  REQUEST_LIMIT_VARS,
  ServiceSecret,
  OBSERVE_VARS,
} from "../../../shared/env";

export const McpEnv = z.object({
  /** Traces and /metrics (shared/env.ts OBSERVE_VARS). */
  ...OBSERVE_VARS,
  DATABASE_URL: DatabaseUrl,
  /** Postgres connections this worker keeps open per process (its PgPool Durable Object). Default 4. */
  PG_POOL_MAX: PoolMax,
  IDENTITY_SECRET: IdentitySecret,
  /** Signs the service assertion of every call to the catalog worker (shared/service-auth.ts). */
  SERVICE_SECRET: ServiceSecret,
  /** The gateway's public origin (required: the Host and Origin checks follow it, never the client's Host); a browser `Origin` equal to it is allowed. */
  PUBLIC_URL: PublicUrl,
  /** Key material for the encrypted, user-bound `Mcp-Session-Id` tokens and relayed request ids. */
  SESSION_SECRET: z.string().min(32, "must be at least 32 characters"),
  /** Further allowed browser origins, comma-separated (e.g. an Open WebUI origin). Default none. */
  ALLOWED_ORIGINS: z
    .string()
    .optional()
    .transform((s) =>
      (s ?? "")
        .split(",")
        .map((o) => o.trim().replace(/\/+$/, ""))
        .filter(Boolean),
    ),
  /** Further allowed `Host` values (host or host:port), comma-separated, besides PUBLIC_URL's host and loopback. Default none. */
  ALLOWED_HOSTS: z
    .string()
    .optional()
    .transform((s) =>
      (s ?? "")
        .split(",")
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean),
    ),
  /** Per upstream request: time to the response headers, and the longest silence on a stream (ms). Default 30000. */
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** Largest upstream message read (a JSON answer, or one SSE event); a larger one fails the request with a JSON-RPC error. Default 16 MiB. */
  MAX_UPSTREAM_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    .default(16 * 1024 * 1024),
  /** Items per page of tools/list, prompts/list, resources/list, resources/templates/list. Default 1000 (each page is a full request through the chain). */
  MCP_PAGE_SIZE: z.coerce.number().int().min(1).max(10_000).default(1000),
  /**
   * How long a user's catalog, once fetched from the catalog worker, is used without asking it
   * again (ms); after that each request revalidates it (If-None-Match, a 304 keeps the parsed
   * copy). 0 = revalidate on every request. Default 500, at most 1500 (grant changes in force
   * within 2 s: this plus the catalog's CATALOG_VERSION_TTL_MS).
   */
  MCP_CATALOG_TTL_MS: z.coerce.number().int().min(0).max(1500).default(500),
  /** `ttlMs` of modern list and discover results: how long a client may keep the user's list without asking again (ms). Default 30000. */
  MCP_LIST_TTL_MS: z.coerce.number().int().min(0).max(86_400_000).default(30_000),
  /** Lifetime of an MRTR `requestState` and of a parked upstream exchange waiting for the client's input (s). Default 600. */
  MRTR_STATE_TTL_SECONDS: z.coerce.number().int().min(5).max(3600).default(600),
  /**
   * Keep-alive comments on streamed answers (ms). A modern request whose answer has not started
   * after half a second is answered as SSE with these, so a client that closes it (its way to
   * cancel) is noticed within this time and its upstream request ends. Default 5000.
   */
  MCP_SSE_PING_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** Most messages in one JSON-RPC batch (2025-03-26); each counts against the rate limit. Default 50. */
  MAX_BATCH_MESSAGES: z.coerce.number().int().min(1).max(1000).default(50),
  /** Most upstream calls one user has in flight per replica; more are refused at once. Default 16. */
  MAX_CONCURRENT_CALLS_PER_USER: z.coerce.number().int().min(1).max(1000).default(16),
  /** A session older than this is unknown (404; clients re-initialize), and its rows are purged (s). Default 7 days. */
  MCP_SESSION_MAX_AGE_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(90 * 86_400)
    .default(7 * 86_400),
  /**
   * Per-user pool of parked upstream sessions (session-era upstreams): when a session-era client's
   * session ends, its idle upstream sessions are kept this long for the same user's next session
   * (Open WebUI opens one per chat turn) instead of being ended and opened anew (s). 0 = pool off
   * (every session opens and ends its own). Default 300.
   */
  MCP_SESSION_POOL_SECONDS: z.coerce.number().int().min(0).max(3600).default(300),
  /** Request limits and the per-user rate limit (shared/middleware/request-limits). */
  ...REQUEST_LIMIT_VARS,
  ...RATE_LIMIT_VARS,
});
export type McpEnv = z.infer<typeof McpEnv>;
