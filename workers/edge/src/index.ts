/**
 * Edge worker: the public origin. Does what Traefik does in production - routes by path and runs
 * the forwardAuth step - so `npm start` and a Cloudflare deployment behave like the Traefik setup.
 * Routes and identity header names come from shared/edge.ts, the same source the Traefik files
 * are checked against.
 */
import { Hono } from "hono";
import { forwardAuth } from "./forward-auth";
import { FORWARD_AUTH_PATH, matchRoute, type WorkerName } from "../../../shared/edge";

export interface Env {
  AUTH: Fetcher;
  CATALOG: Fetcher;
  MCP: Fetcher;
  ADMIN: Fetcher;
}

const app = new Hono<{ Bindings: Env }>();

function binding(env: Env, worker: WorkerName): Fetcher {
  return { auth: env.AUTH, catalog: env.CATALOG, mcp: env.MCP, admin: env.ADMIN }[worker];
}

app.get("/healthz", async (c) => {
  const res = await c.env.CATALOG.fetch(new Request(new URL("/healthz", c.req.url)));
  return new Response(res.body, { status: res.status, headers: { "content-type": "application/json" } });
});

app.get("/", (c) => c.redirect("/admin", 302));

app.all("*", async (c) => {
  const url = new URL(c.req.url);
  const route = matchRoute(url.pathname);
  // The forwardAuth endpoint is internal: Traefik calls it, clients do not.
  if (!route || url.pathname === FORWARD_AUTH_PATH) return c.json({ error: "not_found", message: `no route for ${url.pathname}` }, 404);
  let request = c.req.raw;
  if (route.forwardAuth) {
    const outcome = await forwardAuth(c.env.AUTH, request);
    if (outcome instanceof Response) return outcome;
    request = outcome;
  }
  return binding(c.env, route.worker).fetch(request);
});

export default app;
