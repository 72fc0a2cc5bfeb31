/**
 * The public app's first check: a path that does not normalise is a 400, and the forwardAuth
 * path is a 404 in every spelling (shared/edge.ts normalisePath), so only the `ForwardAuth`
 * entrypoint ever answers it.
 */
import type { MiddlewareHandler } from "hono";
import { isForwardAuthPath, normalisePath } from "../../../shared/edge";
import { errorResponse } from "../../../shared/http";

export function refuseForwardAuthPath(): MiddlewareHandler {
  return async function refuseForwardAuthPathMiddleware(c, next) {
    const raw = new URL(c.req.url).pathname;
    const path = normalisePath(raw);
    if (path === null)
      return errorResponse(
        raw,
        400,
        "invalid_path",
        "the path has an encoded slash or backslash, a control character or broken percent-encoding",
      );
    if (isForwardAuthPath(path)) return errorResponse(path, 404, "not_found", "no route for this path");
    await next();
  };
}
