/**
 * Hono middleware that requires a media type on requests that carry a body: 415 Unsupported
 * Media Type as JSON (a JSON-RPC error on MCP paths) otherwise. Parameters such as
 * `; charset=utf-8` are allowed. Requiring `application/json` on state-changing API calls also
 * stops cross-site HTML forms, which can only send form and text types without a CORS preflight.
 */
import type { Context, MiddlewareHandler } from "hono";
import { errorResponse } from "../../http";

export interface ContentTypeOptions {
  /** Accepted media types (lower case). Default `["application/json"]`. */
  types?: string[];
  /** Methods checked. Default POST, PUT, PATCH. */
  methods?: string[];
  /** Also require the type when the body is empty. Default false (an empty body passes). */
  evenWhenEmpty?: boolean;
  /** Only check requests for which this returns true. Default: all. */
  when?: (c: Context) => boolean;
}

/** The media type of a Content-Type value, lower case, without parameters. */
export function mediaType(value: string | null | undefined): string {
  return (value ?? "").split(";")[0]!.trim().toLowerCase();
}

function hasBody(req: Request): boolean {
  const len = req.headers.get("content-length");
  if (len !== null) return Number(len) !== 0;
  return req.body !== null;
}

/** Returns the `requireContentType` middleware. */
export function requireContentType(opts: ContentTypeOptions = {}): MiddlewareHandler {
  const types = opts.types ?? ["application/json"];
  const methods = opts.methods ?? ["POST", "PUT", "PATCH"];
  return async function requireContentTypeMiddleware(c, next) {
    if (!methods.includes(c.req.method) || (opts.when && !opts.when(c))) return next();
    if (!opts.evenWhenEmpty && !hasBody(c.req.raw)) return next();
    const got = mediaType(c.req.header("content-type"));
    if (!types.includes(got)) {
      return errorResponse(
        c.req.path,
        415,
        "unsupported_media_type",
        `Content-Type must be ${types.join(" or ")}${got ? `, not ${got}` : ""}`,
      );
    }
    await next();
  };
}
