/**
 * Hono middleware that requires a valid identity assertion from the auth worker.
 *
 * Reads {@link ASSERTION_HEADER}, verifies it with `env.IDENTITY_SECRET`, and stores the identity
 * as `c.get("identity")`. Without a valid assertion it answers 401 JSON (the edge or Traefik
 * only lets authenticated requests through, so this guards against bypassing them).
 */
import type { MiddlewareHandler } from "hono";
import { ASSERTION_HEADER } from "../../edge";
import { verifyAssertion, type Identity } from "../../identity";

export interface IdentityVariables {
  identity: Identity;
}

export function requireIdentity(opts: {
  secret: (env: any) => string;
}): MiddlewareHandler<{ Variables: IdentityVariables }> {
  return async function requireIdentityMiddleware(c, next) {
    const identity = await verifyAssertion(c.req.header(ASSERTION_HEADER), opts.secret(c.env));
    if (!identity) {
      return c.json(
        {
          error: "unauthenticated",
          message: "missing or invalid identity assertion; requests must pass the auth worker",
        },
        401,
      );
    }
    c.set("identity", identity);
    await next();
  };
}
