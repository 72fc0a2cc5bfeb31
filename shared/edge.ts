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

/** Path of the forwardAuth endpoint (what Traefik's `address` names; the entrypoint answers any path). */
export const FORWARD_AUTH_PATH = "/auth/verify";

/**
 * The forwardAuth endpoint is not a route of the auth worker's public app at all: it is the
 * auth worker's named entrypoint `ForwardAuth`, reached only through a service binding (the
 * edge's `AUTH_VERIFY`) or the auth container's own socket on {@link FORWARD_AUTH_PORT} (Traefik's
 * forwardAuth `address`), which no public router leads to. So no spelling of `/auth/verify` on
 * the public origin can reach it; the public app also refuses every spelling explicitly.
 */
export const FORWARD_AUTH_ENTRYPOINT = "ForwardAuth";
/** Port of the auth container's forwardAuth socket (internal network only). */
export const FORWARD_AUTH_PORT = 8085;
/** Name of that socket in the auth worker's workerd config. */
export const FORWARD_AUTH_SOCKET = "forward-auth";

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

const CONTROL = /[\u0000-\u001f\u007f]/;

/** Percent-encodes what a path segment cannot carry as is (`%` included, so nothing is decoded twice). */
function encodeSegment(segment: string): string {
  return segment.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]/gu, (ch) => encodeURIComponent(ch));
}

/**
 * The one normalised form of a request path, used by every front and by the auth worker for
 * every decision that depends on the path (routing, hiding the forwardAuth endpoint, audiences,
 * which credentials a path accepts): dot segments resolved (also `%2e`, as WHATWG URL parsing
 * does in every worker), `\` read as `/`, percent-encoding decoded once (`/auth/%76erify` is
 * `/auth/verify`), empty segments dropped (`//`, a trailing `/`), then re-encoded canonically.
 * Case is kept (routes are case-sensitive). Returns null for a path no route may accept: an
 * encoded `/` or `\`, a control character, or broken percent-encoding. The query is not part of it.
 */
export function normalisePath(raw: string): string | null {
  const path = raw.split(/[?#]/, 1)[0] ?? "";
  let pathname: string;
  try {
    pathname = new URL(`http://n${path.startsWith("/") ? "" : "/"}${path}`).pathname;
  } catch {
    return null;
  }
  const out: string[] = [];
  for (const part of pathname.split("/")) {
    let segment: string;
    try {
      segment = decodeURIComponent(part);
    } catch {
      return null;
    }
    if (segment.includes("/") || segment.includes("\\") || CONTROL.test(segment)) return null;
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(encodeSegment(segment));
  }
  return "/" + out.join("/");
}

/** Whether a normalised path is the admin worker's (`/admin` or `/admin/...`). */
export function isAdminPath(normalised: string): boolean {
  return normalised === "/admin" || normalised.startsWith("/admin/");
}

/** Whether a normalised path is the forwardAuth endpoint's, in any letter case. */
export function isForwardAuthPath(normalised: string): boolean {
  return normalised.toLowerCase() === FORWARD_AUTH_PATH;
}

/** Finds the route for a path, or undefined. */
export function matchRoute(path: string): Route | undefined {
  return ROUTES.find(
    (r) =>
      path === r.prefix ||
      path.startsWith(r.prefix + "/") ||
      (r.prefix.startsWith("/.well-known") && path.startsWith(r.prefix)),
  );
}
