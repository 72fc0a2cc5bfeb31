/**
 * Edge worker: the public origin. Does what Traefik does in production - routes by path and runs
 * the forwardAuth step - so `npm start` and a Cloudflare deployment behave like the Traefik setup.
 * Routes and identity header names come from shared/edge.ts, the same source the Traefik files
 * are checked against. In front of every worker it applies the request limits (the header, body
 * and media-type checks each worker repeats; the per-user rate limit is the mcp and admin
 * workers' alone, see shared/middleware/request-limits) and security headers.
 */
import { Hono } from "hono";
import { forwardAuth } from "./forward-auth";
import { EdgeEnv } from "./env";
import { FORWARD_AUTH_PATH, matchRoute, type Route, type WorkerName } from "../../../shared/edge";
import { readEnv } from "../../../shared/env";
import { errorResponse, onError } from "../../../shared/http";
import { jsonRpcErrors } from "../../../shared/middleware/jsonrpc-errors";
import { requestLimits } from "../../../shared/middleware/request-limits";
import { securityHeaders } from "../../../shared/middleware/security-headers";

export interface Env {
  AUTH: Fetcher;
  CATALOG: Fetcher;
  MCP: Fetcher;
  ADMIN: Fetcher;
}

interface Variables {
  route: Route;
  /** The request as forwarded (identity headers set by the forwardAuth step). */
  forwarded: Request;
}

const app = new Hono<{ Bindings: Env; Variables: Variables }>();
app.onError(onError);
app.use("*", securityHeaders());
app.use("*", jsonRpcErrors());
app.use("*", ...requestLimits((c) => readEnv(EdgeEnv, c.env)));

function binding(env: Env, worker: WorkerName): Fetcher {
  return { auth: env.AUTH, catalog: env.CATALOG, mcp: env.MCP, admin: env.ADMIN }[worker];
}

app.get("/healthz", async (c) => {
  const res = await c.env.CATALOG.fetch(new Request(new URL("/healthz", c.req.url)));
  return new Response(res.body, { status: res.status, headers: { "content-type": "application/json" } });
});

app.get("/", (c) => c.redirect("/admin", 302));

app.all(
  "*",
  async function routeAndAuthenticate(c, next) {
    const url = new URL(c.req.url);
    const route = matchRoute(url.pathname);
    // The forwardAuth endpoint is internal: Traefik calls it, clients do not.
    if (!route || url.pathname === FORWARD_AUTH_PATH) return errorResponse(url.pathname, 404, "not_found", "no route for this path");
    c.set("route", route);
    let request = c.req.raw;
    if (route.forwardAuth) {
      const outcome = await forwardAuth(c.env.AUTH, request);
      if (outcome instanceof Response) return outcome;
      request = outcome;
    }
    c.set("forwarded", request);
    await next();
  },
  (c) => binding(c.env, c.get("route").worker).fetch(c.get("forwarded")),
);

export default app;
