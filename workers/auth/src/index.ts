/**
 * Auth worker: OIDC browser login, the OAuth protected-resource metadata, and - on its own
 * entrypoint `ForwardAuth` only - the forwardAuth step. The public app (the default export, what
 * the edge and Traefik route `/auth/*` to) has no verify route and refuses the forwardAuth path
 * in every spelling (shared/edge.ts normalisePath); the `ForwardAuth` entrypoint is reached only
 * through the edge's service binding or the container's internal socket (FORWARD_AUTH_PORT).
 * Header and body limits apply to both (shared/middleware/request-limits).
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { Hono } from "hono";
import { readEnv } from "../../../shared/env";
import { jsonNotFound, onError } from "../../../shared/http";
import { requestLimits } from "../../../shared/middleware/request-limits";
import { pgPoolClass } from "../../../shared/pool/durable-object";
import { authOps } from "./db";
import { AuthEnv } from "./env";
import { registerLoginRoutes } from "./login.routes";
import { registerMetadataRoutes } from "./metadata.routes";
import { refuseForwardAuthPath } from "./public-paths";
import { registerVerifyRoutes } from "./verify.routes";

type Bindings = { Bindings: Record<string, unknown> };

const app = new Hono<Bindings>();
app.onError(onError);
app.use("*", ...requestLimits((c) => readEnv(AuthEnv, c.env)));
app.use("*", refuseForwardAuthPath());
registerLoginRoutes(app);
registerMetadataRoutes(app);
app.notFound(jsonNotFound);

const forwardAuthApp = new Hono<Bindings>();
forwardAuthApp.onError(onError);
forwardAuthApp.use("*", ...requestLimits((c) => readEnv(AuthEnv, c.env)));
registerVerifyRoutes(forwardAuthApp);

/** The forwardAuth step (Traefik's forwardAuth `address`, the edge's AUTH_VERIFY binding). */
export class ForwardAuth extends WorkerEntrypoint<Record<string, unknown>> {
  override fetch(request: Request): Promise<Response> {
    return Promise.resolve(forwardAuthApp.fetch(request, this.env, this.ctx));
  }
}

/** The auth worker's Postgres pool (shared/pool): bound as PG_POOL in wrangler.toml. */
export class PgPool extends pgPoolClass(authOps, "auth") {}

export default app;
