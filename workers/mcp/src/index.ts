/** MCP worker: the gateway endpoint at /mcp and /mcp/<server> (see mcp.routes.ts). */
import { Hono } from "hono";
import type { Identity } from "../../../shared/identity";
import { onError } from "../../../shared/http";
import { requireIdentity } from "../../../shared/middleware/identity";
import { registerMcpRoutes } from "./mcp.routes";

const app = new Hono<{ Bindings: Record<string, unknown>; Variables: { identity: Identity } }>();
app.onError(onError);
app.use("/mcp/*", requireIdentity({ secret: (env) => env.IDENTITY_SECRET }));
app.use("/mcp", requireIdentity({ secret: (env) => env.IDENTITY_SECRET }));
registerMcpRoutes(app);
app.notFound((c) => c.json({ error: "not_found", message: `no route for ${c.req.path}` }, 404));

export default app;
