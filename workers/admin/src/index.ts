/**
 * Admin worker: admin UI at /admin and REST API at /admin/api (admins only; every signed-in user's
 * own self-service page /admin/me and API /admin/api/me, self.routes.tsx). It applies the
 * request limits and the per-user rate limit itself (shared/middleware/request-limits), so they
 * hold whichever front routes to it.
 */
import { readEnv } from "../../../shared/env";
import { jsonNotFound } from "../../../shared/http";
import { metricsRoute, observe } from "../../../shared/middleware/observe";
import { requireIdentity } from "../../../shared/middleware/identity";
import { requestLimits, userRateLimit } from "../../../shared/middleware/request-limits";
import { isApi, originCheck, requireAdmin } from "./admin.middleware";
import { adminOnError } from "./error-handler";
import { createAdminApp } from "./app";
import { registerApiRoutes } from "./api.routes";
import { csrfProtection } from "./csrf";
import { AdminEnv } from "./env";
import { adminSecurityHeaders } from "./security-headers";
import { registerUiRoutes } from "./ui.routes";
import { registerSelfRoutes, WHOAMI_ROUTE } from "./self.routes";
import { registerDocsRoutes } from "./docs.routes";
import { mountRoutes } from "./route";

const app = createAdminApp();
app.onError(adminOnError);
app.use("*", observe("admin"));
app.get("/metrics", metricsRoute("admin"));
app.use("*", ...requestLimits((c) => readEnv(AdminEnv, c.env)));
// "/admin/*" also matches "/admin" itself
app.use(
  "/admin/*",
  requireIdentity({ secret: (env) => env.IDENTITY_SECRET }),
  userRateLimit((c) => readEnv(AdminEnv, c.env)),
);
mountRoutes(app, [WHOAMI_ROUTE]);
app.use("/admin/*", adminSecurityHeaders(), originCheck());
// UI paths: a CSRF token on pages, required on form posts (the API takes JSON and relies on the Origin check)
const csrf = csrfProtection();
app.use("/admin/*", async (c, next) => (isApi(c) ? next() : csrf(c, next)));
// every signed-in user: /admin/me and /admin/api/me* (their own data only); everything after is for admins
registerSelfRoutes(app);
app.use("/admin/*", requireAdmin());
registerDocsRoutes(app);
registerApiRoutes(app);
registerUiRoutes(app);
app.notFound(jsonNotFound);

export default app;
