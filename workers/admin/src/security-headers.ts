/**
 * Response headers for the admin worker, by Hono's `secureHeaders`: a strict
 * Content-Security-Policy (scripts only with this response's nonce, `secureHeadersNonce`; forms
 * only to this origin; no framing), no sniffing, no referrer to other sites, and (ours) no
 * caching of admin data.
 */
import type { MiddlewareHandler } from "hono";
import { NONCE, secureHeaders } from "hono/secure-headers";
import type { AdminApp } from "./app";

const headers = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: [NONCE],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", "data:"],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
  },
  xFrameOptions: "DENY",
  referrerPolicy: "same-origin",
});

/** The admin worker's response headers (see the module header). */
export function adminSecurityHeaders(): MiddlewareHandler<AdminApp> {
  return async function adminSecurityHeadersMiddleware(c, next) {
    await headers(c, async () => {
      await next();
      if (!c.res.headers.get("Cache-Control")) c.header("Cache-Control", "no-store");
    });
  };
}
