/** MCP worker: the gateway endpoint at /mcp and /mcp/<server> (see mcp.routes.ts). */
import { Hono } from "hono";
import type { Identity } from "../../../shared/identity";
import { onError } from "../../../shared/http";
import { requireIdentity } from "../../../shared/middleware/identity";
import { pgPoolClass } from "../../../shared/pool/durable-object";
import { mcpOps } from "./db";
import { registerMcpRoutes } from "./mcp.routes";

const app = new Hono<{ Bindings: Record<string, unknown>; Variables: { identity: Identity } }>();
// every answer of this worker is a JSON-RPC error when something goes wrong
app.onError(async (err, c) => {
  const res = onError(err, c);
  const body = (await res.json().catch(() => ({}))) as { message?: string };
  const code = res.status < 500 ? -32600 : -32603;
  return c.json({ jsonrpc: "2.0", id: null, error: { code, message: body.message ?? "internal error" } }, res.status as 500);
});
app.use("/mcp/*", requireIdentity({ secret: (env) => env.IDENTITY_SECRET }));
app.use("/mcp", requireIdentity({ secret: (env) => env.IDENTITY_SECRET }));
registerMcpRoutes(app);
app.notFound((c) => c.json({ jsonrpc: "2.0", id: null, error: { code: -32600, message: `Not found: no MCP endpoint at ${c.req.path}` } }, 404));

/** The mcp worker's Postgres pool (shared/pool): bound as PG_POOL in wrangler.toml. */
export class PgPool extends pgPoolClass(mcpOps) {}

export default app;
