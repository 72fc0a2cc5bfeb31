/**
 * The edge's routes: `/healthz` (the catalog's answer, which says whether Postgres answers), `/`
 * to the admin UI, `/metrics` (every worker's figures, metrics.ts), and everything else routed by path (shared/edge.ts) to its worker, through the
 * forwardAuth step where the route asks for it.
 */
import type { Hono } from "hono";
import { isForwardAuthPath, matchRoute, normalisePath, type Route, type WorkerName } from "../../../shared/edge";
import { errorResponse } from "../../../shared/http";
import type { EdgeBindings } from "./env";
import { currentSpan, GATEWAY_ROOT_HEADER, traceHeaders } from "../../../shared/observe/trace";
import { forwardAuth, forwardedHeaders } from "./forward-auth";
import { continueMessageTrace } from "./message-trace";
import { metricsHandler } from "./metrics";

interface Variables {
  route: Route;
  /** The request as forwarded (identity headers set by the forwardAuth step). */
  forwarded: Request;
}

export type EdgeApp = { Bindings: EdgeBindings; Variables: Variables };

/** Headers a traced request never passes on as the client sent them (lower case). */
const TRACE_DROP: ReadonlySet<string> = new Set(["tracestate", GATEWAY_ROOT_HEADER]);

function binding(env: EdgeBindings, worker: WorkerName): Fetcher {
  return { auth: env.AUTH, catalog: env.CATALOG, mcp: env.MCP, admin: env.ADMIN }[worker];
}

export function registerProxyRoutes(app: Hono<EdgeApp>): void {
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
      if (path === null)
        return errorResponse(
          url.pathname,
          400,
          "invalid_path",
          "the path has an encoded slash or backslash, a control character or broken percent-encoding",
        );
      const route = matchRoute(path);
      // The forwardAuth endpoint is internal in every spelling: Traefik and this edge call it, clients do not.
      if (!route || isForwardAuthPath(path)) return errorResponse(path, 404, "not_found", "no route for this path");
      c.set("route", route);
      let request = c.req.raw;
      if (path !== url.pathname) {
        url.pathname = path;
        request = new Request(url, request);
      }
      // a 2026-07-28 client's trace context in the message's `_meta` (no traceparent header):
      // when the edge read the body for it, the bytes read go on in the request built below
      let body: ArrayBuffer | null;
      try {
        body = await continueMessageTrace(request, path);
      } catch {
        // the client's stream ended (or failed) before its declared Content-Length
        return errorResponse(
          path,
          400,
          "invalid_body",
          "the request body could not be read to its declared Content-Length",
        );
      }
      // the edge's span is the parent of the next hops' (forwardAuth, the worker): the client's
      // trace context is continued, never passed on as it came. The headers going on are built in
      // one copy: without identity headers, with the trace context.
      const trace = traceHeaders();
      const tracing = !!trace.traceparent;
      if (tracing && currentSpan()?.parent === null) trace[GATEWAY_ROOT_HEADER] = "1";
      // (identity headers are dropped on every route: no worker behind takes them from a client)
      const headers = forwardedHeaders(request.headers, tracing ? TRACE_DROP : undefined, trace);
      if (route.forwardAuth) {
        const refused = await forwardAuth(c.env.AUTH_VERIFY, request, headers);
        if (refused) return refused;
      }
      request = new Request(request, body === null ? { headers } : { headers, body });
      c.set("forwarded", request);
      await next();
    },
    (c) => binding(c.env, c.get("route").worker).fetch(c.get("forwarded")),
  );
}
