/**
 * The request limits on hostile or runaway clients, defined once and applied by every worker that
 * a front (the edge worker, Traefik, `wrangler dev`) routes public requests to: the edge, auth,
 * mcp and admin. In the order they apply: header size (431), body size (413), media type (415)
 * and, once the identity assertion is verified, the per-user rate limit (429). Each refusal is
 * JSON, a JSON-RPC error on `/mcp` paths (shared/http.ts#errorResponse). Around them all, a body
 * nothing read is read to its end before the answer goes out (shared/middleware/drain-body).
 *
 * Where each limit runs (design note, also in the README):
 * - Header, body and media-type limits are stateless and idempotent: the edge applies them to the
 *   client's request (before its forwardAuth step costs an auth lookup) and each worker applies
 *   them again, so they hold behind Traefik, which routes straight to the workers. A body the edge
 *   has read (chunked) reaches the worker with a length, so it is not read twice.
 * - The rate limit counts, so it runs in exactly one place: the mcp and admin workers, after
 *   `requireIdentity`. Every front passes through them, the subject is the verified assertion's
 *   e-mail (never a client-sent header), and the edge does not count at all, so nothing is counted
 *   twice. Both workers count into the same Postgres rows (subject = e-mail): one budget per user
 *   across workers and replicas. Traefik adds only a coarse per-address flood guard in front.
 */
import type { Context, MiddlewareHandler } from "hono";
import { IDENTITY_HEADERS } from "../../edge";
import { isMcpPath } from "../../http";
import type { Identity } from "../../identity";
import { bodyLimit } from "../body-limit";
import { drainBody } from "../drain-body";
import { requireContentType } from "../content-type";
import { headerLimit } from "../header-limit";
import { rateLimit, sqlCounterStore, type CounterStore, type WindowCounters } from "../rate-limit";

/** The settings {@link requestLimits} reads (the worker's parsed env; see shared/env.ts REQUEST_LIMIT_VARS). */
export interface RequestLimitSettings {
  MAX_BODY_BYTES: number;
  MAX_HEADER_BYTES: number;
}

/** The settings {@link userRateLimit} reads (see shared/env.ts RATE_LIMIT_VARS). */
export interface RateLimitSettings {
  RATE_LIMIT_PER_MINUTE: number;
  RATE_LIMIT_SYNC_MS: number;
  /** Postgres holding the counters shared by the replicas; unset keeps the limit per isolate. */
  DATABASE_URL?: string;
}

/**
 * Header, body and media-type limits for every request: `application/json` on POSTs to `/mcp*`
 * (even without a body) and on POST/PUT/PATCH with a body to `/admin/api/*` (this also keeps
 * cross-site forms off the API). The identity headers a front sets are not counted as headers.
 */
export function requestLimits(settings: (c: Context) => RequestLimitSettings): MiddlewareHandler[] {
  return [
    // outermost: whatever answers without reading the body, the connection stays usable
    drainBody({ maxBytes: (c) => settings(c).MAX_BODY_BYTES }),
    headerLimit({ maxBytes: (c) => settings(c).MAX_HEADER_BYTES, exclude: IDENTITY_HEADERS }),
    bodyLimit({ maxBytes: (c) => settings(c).MAX_BODY_BYTES }),
    requireContentType({
      types: ["application/json"],
      methods: ["POST"],
      evenWhenEmpty: true,
      when: (c) => isMcpPath(c.req.path),
    }),
    requireContentType({
      types: ["application/json"],
      methods: ["POST", "PUT", "PATCH"],
      when: (c) => c.req.path.startsWith("/admin/api/"),
    }),
  ];
}

/**
 * Per-user rate limit (shared/middleware/rate-limit), subject the verified identity's e-mail
 * (`c.get("identity")`, set by `requireIdentity`); requests without one are not counted. Mount it
 * after `requireIdentity`. `counters` is for tests; by default one set per call (per isolate).
 */
export function userRateLimit(
  settings: (c: Context) => RateLimitSettings,
  counters?: WindowCounters,
  store?: (c: Context) => CounterStore,
): MiddlewareHandler {
  return rateLimit({
    limit: (c) => settings(c).RATE_LIMIT_PER_MINUTE,
    subject: (c) => (c.get("identity" as never) as Identity | undefined)?.email ?? null,
    // the worker's pool when it has one, else a client per flush
    store: (c) => {
      if (store) return store(c);
      const url = settings(c).DATABASE_URL;
      return url ? sqlCounterStore(url) : undefined;
    },
    syncMs: (c) => settings(c).RATE_LIMIT_SYNC_MS,
    counters,
  });
}
