/**
 * Hono middleware that requires a valid service assertion (shared/service-auth.ts) from one of
 * the workers allowed to call: what guards an internal API wherever it is reachable (its own
 * container port, a compose network shared with upstreams, a workers.dev URL).
 *
 * Reads {@link SERVICE_ASSERTION_HEADER}, verifies it with the worker's `SERVICE_SECRET` for
 * audience `self`, and stores the caller as `c.get("caller")`. Without a valid assertion from
 * an allowed caller it answers 401 JSON and runs nothing else.
 */
import type { MiddlewareHandler } from "hono";
import { SERVICE_ASSERTION_HEADER, verifyServiceAssertion, type ServiceName } from "../../service-auth";

export interface ServiceVariables {
  /** The worker that made the request. */
  caller: ServiceName;
}

export interface RequireServiceOptions {
  /** This worker: the audience a token must name. */
  self: ServiceName;
  /** Workers allowed to call. */
  callers: readonly ServiceName[];
  /** SERVICE_SECRET from the worker's validated environment. */
  secret: (env: any) => string;
}

/** Requires a service assertion from one of `callers` for `self`. */
export function requireService(opts: RequireServiceOptions): MiddlewareHandler<{ Variables: ServiceVariables }> {
  return async function requireServiceMiddleware(c, next) {
    const caller = await verifyServiceAssertion(
      c.req.header(SERVICE_ASSERTION_HEADER),
      opts.secret(c.env),
      opts.self,
      opts.callers,
    );
    if (!caller) {
      return c.json({ error: "unauthenticated", message: "internal API: missing or invalid service assertion" }, 401);
    }
    c.set("caller", caller);
    await next();
  };
}
