/**
 * Admin worker: admin UI at /admin and REST API at /admin/api (admins only). It applies the
 * request limits and the per-user rate limit itself (shared/middleware/request-limits), so they
 * hold whichever front routes to it.
 */
import { readEnv } from "../../../shared/env";
import { onError } from "../../../shared/http";
import { metricsRoute, observe } from "../../../shared/middleware/observe";
import { requireIdentity } from "../../../shared/middleware/identity";
import { requestLimits, userRateLimit } from "../../../shared/middleware/request-limits";
import { originCheck, requireAdmin } from "./admin.middleware";
import { createAdminApp } from "./app";
import { registerApiRoutes } from "./api.routes";
import { csrfProtection } from "./csrf";
import { AdminEnv } from "./env";
import { ApiError } from "./errors";
import { securityHeaders } from "./security-headers";
import { registerUiRoutes } from "./ui.routes";

const app = createAdminApp();
app.onError((err, c) => {
  if (err instanceof ApiError) return c.json({ error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) }, err.status);
  return onError(err, c);
});
app.use("*", observe("admin"));
app.get("/metrics", metricsRoute("admin"));
app.use("*", ...requestLimits((c) => readEnv(AdminEnv, c.env)));
// "/admin/*" also matches "/admin" itself
app.use("/admin/*", requireIdentity({ secret: (env) => env.IDENTITY_SECRET }), userRateLimit((c) => readEnv(AdminEnv, c.env)));
app.get("/admin/api/whoami", (c) => c.json(c.get("identity")));
app.use("/admin/*", securityHeaders(), requireAdmin(), originCheck());
// UI paths: a CSRF token on pages, required on form posts (the API takes JSON and relies on the Origin check)
const csrf = csrfProtection();
app.use("/admin/*", async (c, next) => (c.req.path === "/admin/api" || c.req.path.startsWith("/admin/api/") ? next() : csrf(c, next)));
registerApiRoutes(app);
registerUiRoutes(app);
app.notFound((c) => c.json({ error: "not_found", message: `no route for ${c.req.path}` }, 404));

export default app;
