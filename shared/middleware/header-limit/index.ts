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
  /**
   * Header names not counted (any case). Default none. The workers behind a front leave out the
   * identity headers the front sets, so a request that passed the front's count passes theirs.
   */
  exclude?: readonly string[];
}

/** Bytes the request's headers take on the wire (`name: value\r\n` each, UTF-8). */
export function headerBytes(headers: Headers, exclude: ReadonlySet<string> = new Set()): number {
  const enc = new TextEncoder();
  let n = 0;
  headers.forEach((value, name) => {
    if (exclude.has(name)) return;
    n += enc.encode(name).length + enc.encode(value).length + 4;
  });
  return n;
}

/** Characters (UTF-16 code units) the headers take, counted like {@link headerBytes}. */
function headerChars(headers: Headers, exclude: ReadonlySet<string>): number {
  let n = 0;
  headers.forEach((value, name) => {
    if (!exclude.has(name)) n += name.length + value.length + 4;
  });
  return n;
}

/** Returns the `headerLimit` middleware. */
export function headerLimit(opts: HeaderLimitOptions = {}): MiddlewareHandler {
  // Headers iterates names in lower case
  const exclude = new Set((opts.exclude ?? []).map((n) => n.toLowerCase()));
  return async function headerLimitMiddleware(c, next) {
    const max = typeof opts.maxBytes === "function" ? opts.maxBytes(c) : (opts.maxBytes ?? 32768);
    // a UTF-16 code unit is at most 3 bytes of UTF-8: a block short in characters needs no encoding
    if (headerChars(c.req.raw.headers, exclude) * 3 <= max) return next();
    const size = headerBytes(c.req.raw.headers, exclude);
    if (size > max) {
      return errorResponse(
        c.req.path,
        431,
        "headers_too_large",
        `request headers take ${size} bytes; the limit is ${max}`,
      );
    }
    await next();
  };
}
