/** Admin worker: admin UI at /admin and REST API at /admin/api. */
import { Hono } from "hono";
import { onError } from "../../../shared/http";
import { requireIdentity, type IdentityVariables } from "../../../shared/middleware/identity";

const app = new Hono<{ Bindings: Record<string, unknown>; Variables: IdentityVariables }>();
app.onError(onError);
app.use("/admin/*", requireIdentity({ secret: (env) => env.IDENTITY_SECRET }));
app.use("/admin", requireIdentity({ secret: (env) => env.IDENTITY_SECRET }));
app.get("/admin/api/whoami", (c) => c.json(c.get("identity")));
app.notFound((c) => c.json({ error: "not_found", message: `no route for ${c.req.path}` }, 404));

export default app;
