/**
 * Hono middleware that refuses request bodies larger than a limit: 413 Content Too Large as JSON
 * (a JSON-RPC error on MCP paths). A declared `Content-Length` over the limit is refused before
 * anything is read; a body without a length (chunked) is read up to the limit and, when it fits,
 * passed on as a buffered body, so the worker behind never sees more than `maxBytes`.
 */
import type { Context, MiddlewareHandler } from "hono";
import { errorResponse } from "../../http";
import { readAtMost } from "../../streams";

export interface BodyLimitOptions {
  /** Largest body in bytes. Default 4194304 (4 MiB). */
  maxBytes?: number | ((c: Context) => number);
}

const tooLarge = (c: Context, max: number) =>
  errorResponse(c.req.path, 413, "body_too_large", `the request body exceeds the limit of ${max} bytes`);

/** Returns the `bodyLimit` middleware. */
export function bodyLimit(opts: BodyLimitOptions = {}): MiddlewareHandler {
  return async function bodyLimitMiddleware(c, next) {
    const max = typeof opts.maxBytes === "function" ? opts.maxBytes(c) : (opts.maxBytes ?? 4 * 1024 * 1024);
    const req = c.req.raw;
    const declared = req.headers.get("content-length");
    if (declared !== null) {
      const n = Number(declared);
      if (!Number.isFinite(n) || n > max) return tooLarge(c, max);
      // the HTTP framing bounds the body to the declared length
      return next();
    }
    if (req.body === null) return next();
    const body = await readAtMost(req.body, max);
    if (body === null) return tooLarge(c, max);
    const headers = new Headers(req.headers);
    headers.delete("transfer-encoding");
    c.req.raw = new Request(req.url, { method: req.method, headers, body, redirect: req.redirect, signal: req.signal });
    await next();
  };
}
