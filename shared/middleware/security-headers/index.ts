/**
 * Hono middleware that adds security headers to every answer passing through (the edge puts it
 * in front of all workers): `X-Content-Type-Options: nosniff` everywhere, and on HTML a
 * Content-Security-Policy (unless the worker set its own), `X-Frame-Options: DENY`,
 * `Referrer-Policy`, `Cross-Origin-Opener-Policy`; HSTS when the request came over HTTPS.
 * It also turns a 5xx answer that is not JSON (an HTML or text error page a worker or the
 * runtime produced) into a JSON one with the same status, so no stack trace or page leaks.
 */
import type { MiddlewareHandler } from "hono";
import { errorResponse } from "../../http";

/** Default CSP for HTML answers: same-origin scripts and styles only, no framing, no plugins. */
export const DEFAULT_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export interface SecurityHeadersOptions {
  /** CSP for HTML answers that set none. Default {@link DEFAULT_CSP}. */
  contentSecurityPolicy?: string;
}

/** Returns the `securityHeaders` middleware. */
export function securityHeaders(opts: SecurityHeadersOptions = {}): MiddlewareHandler {
  const csp = opts.contentSecurityPolicy ?? DEFAULT_CSP;
  return async function securityHeadersMiddleware(c, next) {
    await next();
    let res = c.res;
    const type = (res.headers.get("content-type") ?? "").toLowerCase();
    if (res.status >= 500 && !type.includes("json") && !type.includes("text/event-stream")) {
      await res.body?.cancel().catch(() => {});
      res = errorResponse(
        c.req.path,
        res.status,
        res.status === 503 ? "unavailable" : "internal",
        res.status === 503 ? "the service is unavailable; try again shortly" : "internal error",
      );
    } else {
      // answers from service bindings have immutable headers: copy (the body still streams)
      res = new Response(res.body, res);
    }
    const h = res.headers;
    h.set("X-Content-Type-Options", "nosniff");
    if (type.startsWith("text/html")) {
      if (!h.has("Content-Security-Policy")) h.set("Content-Security-Policy", csp);
      if (!h.has("X-Frame-Options")) h.set("X-Frame-Options", "DENY");
      if (!h.has("Referrer-Policy")) h.set("Referrer-Policy", "same-origin");
      if (!h.has("Cross-Origin-Opener-Policy")) h.set("Cross-Origin-Opener-Policy", "same-origin");
    }
    const proto = c.req.header("x-forwarded-proto") ?? new URL(c.req.url).protocol.replace(":", "");
    if (proto === "https" && !h.has("Strict-Transport-Security"))
      h.set("Strict-Transport-Security", "max-age=31536000");
    c.res = undefined as unknown as Response; // let Hono accept a fresh Response
    c.res = res;
  };
}
