/** HTTP helpers shared by the workers: the error handler that never leaks a stack trace. */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { VersionUnavailable } from "./cache/versioned";
import { EnvError } from "./env";
import { isConnectionError } from "./db";
import { log } from "./log";

/** Postgres error codes (SQLSTATE class 22, data exceptions) caused by a value in the request. */
const INPUT_ERRORS: Record<string, string> = {
  "22021": "a text value contains a character that cannot be stored (e.g. NUL, \\u0000)",
  "22P05": "a text value contains a character that cannot be stored (e.g. NUL, \\u0000)",
  "22001": "a text value is too long",
  "22003": "a number is out of range",
  "22007": "a date-time value is not valid",
  "22008": "a date-time value is out of range",
  "22009": "a time zone offset is not valid",
};

/** The message of what `err` wraps (`cause`), for a log line; undefined when it wraps nothing. */
export function causeOf(err: unknown): string | undefined {
  const cause = (err as { cause?: { message?: unknown } } | null)?.cause;
  return cause === undefined ? undefined : String(cause?.message ?? cause);
}

/**
 * Hono `onError`: 4xx from HTTPException as JSON, 400 when Postgres refuses a value from the
 * request (SQLSTATE 22021 NUL/invalid character, 22001 too long, 22003 out of range, 22007-22009
 * dates; the schemas refuse these first, naming the field - this is the backstop), 503 when
 * Postgres is unreachable or out of connections (53xxx), else 500 JSON. Never a stack trace.
 */
export function onError(err: Error, c: Context): Response {
  if (err instanceof HTTPException) {
    return c.json({ error: "bad_request", message: err.message }, err.status);
  }
  if (err instanceof EnvError) {
    log.error("config", { message: err.message });
    return c.json({ error: "misconfigured", message: "the service is misconfigured; see its log" }, 500);
  }
  const pgCode = (err as { code?: unknown }).code;
  if (typeof pgCode === "string" && pgCode in INPUT_ERRORS) {
    // Postgres refused a value the request carried (e.g. a NUL character in a text field): the
    // client's fault, answered like any other invalid input
    log.warn("input refused by the database", { path: c.req.path, code: pgCode });
    return c.json({ error: "bad_request", message: INPUT_ERRORS[pgCode]! }, 400);
  }
  // too many connections (53300) or out of resources (53xxx): the database is overloaded, not the request wrong
  if (
    err instanceof VersionUnavailable ||
    isConnectionError(err) ||
    (typeof pgCode === "string" && pgCode.startsWith("53"))
  ) {
    // the cause, when the error wraps one (the auth worker's IdentityUnavailable): what actually failed
    const cause = causeOf(err);
    log.warn("database unavailable", {
      path: c.req.path,
      message: String((err as Error).message),
      ...(cause === undefined ? {} : { cause }),
    });
    return c.json({ error: "unavailable", message: "the database is unreachable; try again shortly" }, 503);
  }
  log.error("unhandled", { path: c.req.path, message: String(err?.message ?? err) });
  return c.json({ error: "internal", message: "internal error" }, 500);
}

/**
 * Hono `onError` for a worker whose every answer is JSON-RPC (the mcp worker): {@link onError}'s
 * decision (status and message) as a JSON-RPC error, -32600 for a 4xx and -32603 otherwise.
 */
export async function jsonRpcOnError(err: Error, c: Context): Promise<Response> {
  const res = onError(err, c);
  const body = (await res.json().catch(() => ({}))) as { message?: string };
  const code = res.status < 500 ? -32600 : -32603;
  return c.json(
    { jsonrpc: "2.0", id: null, error: { code, message: body.message ?? "internal error" } },
    res.status as 500,
  );
}

/** Hono `notFound` for JSON workers: 404 `{error: "not_found"}` naming the path. */
export function jsonNotFound(c: Context): Response {
  return c.json({ error: "not_found", message: `no route for ${c.req.path}` }, 404);
}

/** True for the MCP endpoint's paths (`/mcp`, `/mcp/<server>...`), whose errors are JSON-RPC. */
export function isMcpPath(path: string): boolean {
  return path === "/mcp" || path.startsWith("/mcp/");
}

/** JSON-RPC error code of an HTTP-level refusal on an MCP path. */
function jsonRpcCode(status: number): number {
  // -32600 Invalid Request for a request the edge will not read; -32000 (server error) otherwise
  return status === 413 || status === 415 || status === 431 || status === 400 ? -32600 : -32000;
}

/**
 * A refusal as JSON: `{"error": code, "message": ...}`, or on an MCP path a JSON-RPC error
 * response `{"jsonrpc": "2.0", "id": null, "error": {"code", "message", "data": {"error": code}}}`
 * with the same HTTP status. Used by the request limits (413, 415, 429, 431) and by any worker.
 */
export function errorResponse(
  path: string,
  status: number,
  error: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  const body = isMcpPath(path)
    ? { jsonrpc: "2.0", id: null, error: { code: jsonRpcCode(status), message, data: { error } } }
    : { error, message };
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}
