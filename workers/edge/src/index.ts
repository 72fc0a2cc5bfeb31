/**
 * Edge worker: the public origin. Does what Traefik does in production - routes by path and runs
 * the forwardAuth step - so `npm start` and a Cloudflare deployment behave like the Traefik setup.
 * Routes and identity header names come from shared/edge.ts, the same source the Traefik files
 * are checked against. In front of every worker it applies the request limits (the header, body
 * and media-type checks each worker repeats; the per-user rate limit is the mcp and admin
 * workers' alone, see shared/middleware/request-limits) and security headers.
 */
import { Hono } from "hono";
import { readEnv } from "../../../shared/env";
import { onError } from "../../../shared/http";
import { jsonRpcErrors } from "../../../shared/middleware/jsonrpc-errors";
import { requestLimits } from "../../../shared/middleware/request-limits";
import { securityHeaders } from "../../../shared/middleware/security-headers";
import { EdgeEnv } from "./env";
import { registerProxyRoutes, type EdgeApp } from "./proxy.routes";

const app = new Hono<EdgeApp>();
app.onError(onError);
app.use("*", securityHeaders());
app.use("*", jsonRpcErrors());
app.use("*", ...requestLimits((c) => readEnv(EdgeEnv, c.env)));
registerProxyRoutes(app);

export default app;
