/**
 * Hono middleware that refuses requests whose headers are too large: 431 Request Header Fields
 * Too Large, as JSON (JSON-RPC on MCP paths). The size counted is what the headers take on the
 * wire: each `name: value\r\n`. workerd itself refuses much larger header blocks (it closes the
 * connection or answers a bare 431 past its own buffer, about 128 KiB), so this limit must be
 * lower to give clients a readable answer.
 */
import type { Context, MiddlewareHandler } from "hono";
import { errorResponse } from "../../http";

export interface HeaderLimitOptions {
  /** Largest header block in bytes. Default 32768 (32 KiB). */
  maxBytes?: number | ((c: Context) => number);
}

/** Bytes the request's headers take on the wire (`name: value\r\n` each, UTF-8). */
export function headerBytes(headers: Headers): number {
  const enc = new TextEncoder();
  let n = 0;
  headers.forEach((value, name) => {
    n += enc.encode(name).length + enc.encode(value).length + 4;
  });
  return n;
}

/** Returns the `headerLimit` middleware. */
export function headerLimit(opts: HeaderLimitOptions = {}): MiddlewareHandler {
  return async function headerLimitMiddleware(c, next) {
    const max = typeof opts.maxBytes === "function" ? opts.maxBytes(c) : (opts.maxBytes ?? 32768);
    const size = headerBytes(c.req.raw.headers);
    if (size > max) {
      return errorResponse(c.req.path, 431, "headers_too_large", `request headers take ${size} bytes; the limit is ${max}`);
    }
    await next();
  };
}
