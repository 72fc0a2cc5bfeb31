/**
 * The one source of truth for how the public origin is routed and which identity headers the
 * forwardAuth step sets. The edge worker (local `npm start`, Cloudflare) routes with it, and the
 * tests check `traefik/` and `compose/` against it.
 */

/** Headers the auth worker sets on a 2xx forwardAuth answer; the edge (and Traefik's
 * `authResponseHeaders`) copies exactly these onto the request and drops any client-sent copy. */
export const IDENTITY_HEADERS = ["X-User-Email", "X-User-Groups", "X-User-Admin", "X-Identity-Assertion"] as const;

/** Header carrying the short-lived signed identity assertion (a JWT). */
export const ASSERTION_HEADER = "X-Identity-Assertion";

/** Path of the forwardAuth endpoint on the auth worker. */
export const FORWARD_AUTH_PATH = "/auth/verify";

export type WorkerName = "auth" | "catalog" | "mcp" | "admin";

export interface Route {
  /** Path prefix matched at a segment boundary (`/mcp` matches `/mcp`, `/mcp/x`, not `/mcpx`). */
  prefix: string;
  worker: WorkerName;
  /** Whether the request passes the forwardAuth step first. */
  forwardAuth: boolean;
}

/** Public routes, most specific first. */
export const ROUTES: readonly Route[] = [
  { prefix: "/.well-known/oauth-protected-resource", worker: "auth", forwardAuth: false },
  { prefix: "/.well-known/oauth-authorization-server", worker: "auth", forwardAuth: false },
  { prefix: "/auth", worker: "auth", forwardAuth: false },
  { prefix: "/mcp", worker: "mcp", forwardAuth: true },
  { prefix: "/admin", worker: "admin", forwardAuth: true },
];

/** Port each worker listens on inside its container (compose) and in the capnp configs. */
export const WORKER_PORTS: Record<WorkerName, number> = { auth: 8081, catalog: 8082, mcp: 8083, admin: 8084 };

/** Finds the route for a path, or undefined. */
export function matchRoute(path: string): Route | undefined {
  return ROUTES.find((r) => path === r.prefix || path.startsWith(r.prefix + "/") || (r.prefix.startsWith("/.well-known") && path.startsWith(r.prefix)));
}
