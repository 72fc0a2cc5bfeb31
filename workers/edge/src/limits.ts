/**
 * The edge's limits on hostile or runaway clients, in the order they apply: header size (431),
 * body size (413), media type (415) and, after the forwardAuth step has named the user, the
 * per-user rate limit (429). Each refusal is JSON, a JSON-RPC error on `/mcp` paths.
 */
import type { Context, MiddlewareHandler } from "hono";
import { readEnv } from "../../../shared/env";
import { isMcpPath } from "../../../shared/http";
import { bodyLimit } from "../../../shared/middleware/body-limit";
import { requireContentType } from "../../../shared/middleware/content-type";
import { headerLimit } from "../../../shared/middleware/header-limit";
import { rateLimit } from "../../../shared/middleware/rate-limit";
import { EdgeEnv } from "./env";

const env = (c: Context) => readEnv(EdgeEnv, c.env);

/** Header, body and media-type limits for every request. */
export const requestLimits: MiddlewareHandler[] = [
  headerLimit({ maxBytes: (c) => env(c).MAX_HEADER_BYTES }),
  bodyLimit({ maxBytes: (c) => env(c).MAX_BODY_BYTES }),
  // MCP messages and admin API bodies are JSON (this also keeps cross-site forms off the API)
  requireContentType({ types: ["application/json"], methods: ["POST"], evenWhenEmpty: true, when: (c) => isMcpPath(c.req.path) }),
  requireContentType({ types: ["application/json"], methods: ["POST", "PUT", "PATCH"], when: (c) => c.req.path.startsWith("/admin/api/") }),
];

/** Per-user limit; the subject is the e-mail the forwardAuth step put on the request. */
export const userRateLimit: MiddlewareHandler = rateLimit({
  limit: (c) => env(c).RATE_LIMIT_PER_MINUTE,
  subject: (c) => (c.get("user" as never) as string | undefined) ?? null,
  databaseUrl: (c) => env(c).DATABASE_URL,
  syncMs: (c) => env(c).RATE_LIMIT_SYNC_MS,
});
