/** MCP worker: the gateway endpoint at /mcp and /mcp/<server>. */
import { Hono } from "hono";
import { onError } from "../../../shared/http";
import { requireIdentity } from "../../../shared/middleware/identity";

const app = new Hono<{ Bindings: Record<string, unknown> }>();
app.onError(onError);
app.use("/mcp/*", requireIdentity({ secret: (env) => env.IDENTITY_SECRET }));
app.use("/mcp", requireIdentity({ secret: (env) => env.IDENTITY_SECRET }));
app.all("/mcp", (c) => c.json({ jsonrpc: "2.0", id: null, error: { code: -32601, message: "MCP endpoint not implemented yet" } }, 501));
app.notFound((c) => c.json({ error: "not_found", message: `no route for ${c.req.path}` }, 404));

export default app;
