/**
 * MCP worker: the gateway endpoint at /mcp and /mcp/<server> (downstream/mcp.routes.ts; the rooms
 * are described in ../README.md). It applies the request limits and the per-user rate limit
 * itself (shared/middleware/request-limits), so they hold whichever front routes to it: the edge
 * worker, Traefik or `wrangler dev`.
 */
import { Hono, type Context } from "hono";
import { readEnv } from "../../../shared/env";
import type { Identity } from "../../../shared/identity";
import { jsonRpcOnError } from "../../../shared/http";
import { metricsRoute, observe } from "../../../shared/middleware/observe";
import { requireIdentity } from "../../../shared/middleware/identity";
import { jsonRpcErrors } from "../../../shared/middleware/jsonrpc-errors";
import { requestLimits, userRateLimit } from "../../../shared/middleware/request-limits";
import { pgPoolClass } from "../../../shared/pool/durable-object";
import { mcpDb, mcpOps } from "./db";
import { McpEnv } from "./env";
import { registerMcpRoutes } from "./downstream/mcp.routes";

const env = (c: Context) => readEnv(McpEnv, c.env);

const app = new Hono<{ Bindings: Record<string, unknown>; Variables: { identity: Identity } }>();
// every answer of this worker is a JSON-RPC error when something goes wrong
app.onError(jsonRpcOnError);
app.use("*", observe("mcp"));
app.get("/metrics", metricsRoute("mcp"));
app.use("*", jsonRpcErrors());
app.use("*", ...requestLimits(env));
// "/mcp/*" also matches "/mcp" itself (a second pattern for "/mcp" would count each request twice)
app.use(
  "/mcp/*",
  requireIdentity({ secret: (e) => e.IDENTITY_SECRET }),
  userRateLimit(env, undefined, (c) => (deltas) => mcpDb(c.env).run("addCounts", deltas)),
);
// (the counters go through the worker's Postgres pool)
registerMcpRoutes(app);
app.notFound((c) =>
  c.json(
    { jsonrpc: "2.0", id: null, error: { code: -32600, message: `Not found: no MCP endpoint at ${c.req.path}` } },
    404,
  ),
);

/** The mcp worker's Postgres pool (shared/pool): bound as PG_POOL in wrangler.toml. */
export class PgPool extends pgPoolClass(mcpOps, "mcp") {}

export default app;
