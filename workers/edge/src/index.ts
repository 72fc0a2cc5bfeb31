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
import { isForwardAuthPath, matchRoute, normalisePath, type Route, type WorkerName } from "../../../shared/edge";
import { readEnv } from "../../../shared/env";
import { errorResponse, onError } from "../../../shared/http";
import { jsonRpcErrors } from "../../../shared/middleware/jsonrpc-errors";
import { requestLimits } from "../../../shared/middleware/request-limits";
import { securityHeaders } from "../../../shared/middleware/security-headers";
import { observe } from "../../../shared/middleware/observe";
import { traceHeaders } from "../../../shared/observe/trace";
import { metricsHandler } from "./metrics";

export interface Env {
  AUTH: Fetcher;
  /** The auth worker's `ForwardAuth` entrypoint (shared/edge.ts): the forwardAuth step only. */
  AUTH_VERIFY: Fetcher;
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
app.use("*", observe("edge"));
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

app.get("/metrics", metricsHandler);

app.all(
  "*",
  async function routeAndAuthenticate(c, next) {
    const url = new URL(c.req.url);
    // One normalised path for routing and for everything behind: the request goes on with it,
    // so the route, the forwardAuth decision (X-Forwarded-Uri) and the worker see the same path.
    const path = normalisePath(url.pathname);
    if (path === null) return errorResponse(url.pathname, 400, "invalid_path", "the path has an encoded slash or backslash, a control character or broken percent-encoding");
    const route = matchRoute(path);
    // The forwardAuth endpoint is internal in every spelling: Traefik and this edge call it, clients do not.
    if (!route || isForwardAuthPath(path)) return errorResponse(path, 404, "not_found", "no route for this path");
    c.set("route", route);
    let request = c.req.raw;
    if (path !== url.pathname) {
      url.pathname = path;
      request = new Request(url, request);
    }
    // the edge's span is the parent of the next hops' (forwardAuth, the worker): the client's
    // trace context is continued, never passed on as it came
    const trace = traceHeaders();
    if (trace.traceparent) {
      const headers = new Headers(request.headers);
      headers.delete("tracestate");
      for (const [name, value] of Object.entries(trace)) headers.set(name, value);
      request = new Request(request, { headers });
    }
    if (route.forwardAuth) {
      const outcome = await forwardAuth(c.env.AUTH_VERIFY, request);
      if (outcome instanceof Response) return outcome;
      request = outcome;
    }
    c.set("forwarded", request);
    await next();
  },
  (c) => binding(c.env, c.get("route").worker).fetch(c.get("forwarded")),
);

export default app;
