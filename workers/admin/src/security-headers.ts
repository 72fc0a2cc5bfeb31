/**
 * Response headers for the admin worker: a strict Content-Security-Policy (scripts only with this
 * response's nonce, forms only to this origin, no framing), no caching of admin data, no sniffing.
 */
import type { MiddlewareHandler } from "hono";
import { randomToken } from "../../../shared/crypto";
import type { AdminApp } from "./app";

export function securityHeaders(): MiddlewareHandler<AdminApp> {
  return async function securityHeadersMiddleware(c, next) {
    const nonce = randomToken(16);
    c.set("cspNonce", nonce);
    await next();
    c.header(
      "Content-Security-Policy",
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    );
    c.header("X-Content-Type-Options", "nosniff");
    c.header("X-Frame-Options", "DENY");
    c.header("Referrer-Policy", "same-origin");
    if (!c.res.headers.get("Cache-Control")) c.header("Cache-Control", "no-store");
  };
}
