/**
 * Hono middleware that refuses request bodies larger than a limit: 413 Content Too Large as JSON
 * (a JSON-RPC error on MCP paths). A declared `Content-Length` over the limit is refused before
 * anything is read; a body without a length (chunked) is read up to the limit and, when it fits,
 * passed on as a buffered body, so the worker behind never sees more than `maxBytes` (Hono's `bodyLimit`).
 */
import type { Context, MiddlewareHandler } from "hono";
import { errorResponse } from "../../http";
import { bodyLimit as honoBodyLimit } from "hono/body-limit";

export interface BodyLimitOptions {
  /** Largest body in bytes. Default 4194304 (4 MiB). */
  maxBytes?: number | ((c: Context) => number);
}

const tooLarge = (c: Context, max: number) =>
  errorResponse(c.req.path, 413, "body_too_large", `the request body exceeds the limit of ${max} bytes`);

/**
 * Returns the `bodyLimit` middleware: Hono's own (`hono/body-limit`, which buffers a body without
 * a length up to the limit before the handler runs), with the limit read per request and our
 * error shape. A `Content-Length` that is not a number is refused here (Hono would pass it on).
 */
export function bodyLimit(opts: BodyLimitOptions = {}): MiddlewareHandler {
  return async function bodyLimitMiddleware(c, next) {
    const max = typeof opts.maxBytes === "function" ? opts.maxBytes(c) : (opts.maxBytes ?? 4 * 1024 * 1024);
    const declared = c.req.header("content-length");
    if (declared !== undefined && !/^\d+$/.test(declared)) return tooLarge(c, max);
    return honoBodyLimit({ maxSize: max, onError: (c) => tooLarge(c, max) })(c, next);
  };
}
