/**
 * Auth worker: forwardAuth endpoint, OIDC browser login and the OAuth protected-resource metadata.
 * Header and body limits apply here too (shared/middleware/request-limits): Traefik routes
 * `/auth/*` straight to this worker.
 */
import { Hono } from "hono";
import { readEnv } from "../../../shared/env";
import { requestLimits } from "../../../shared/middleware/request-limits";
import { AuthEnv } from "./env";
import { registerVerifyRoutes } from "./verify.routes";
import { registerLoginRoutes } from "./login.routes";
import { registerMetadataRoutes } from "./metadata.routes";
import { onError } from "../../../shared/http";
import { pgPoolClass } from "../../../shared/pool/durable-object";
import { authOps } from "./db";

const app = new Hono<{ Bindings: Record<string, unknown> }>();
app.onError(onError);
app.use("*", ...requestLimits((c) => readEnv(AuthEnv, c.env)));
registerVerifyRoutes(app);
registerLoginRoutes(app);
registerMetadataRoutes(app);
app.notFound((c) => c.json({ error: "not_found", message: `no route for ${c.req.path}` }, 404));

/** The auth worker's Postgres pool (shared/pool): bound as PG_POOL in wrangler.toml. */
export class PgPool extends pgPoolClass(authOps, "auth") {}

export default app;
