/** HTTP helpers shared by the workers: the error handler that never leaks a stack trace. */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { EnvError } from "./env";
import { isConnectionError } from "./db";
import { log } from "./log";

/** Hono `onError`: 4xx from HTTPException as JSON, 503 when Postgres is unreachable, else 500 JSON. */
export function onError(err: Error, c: Context): Response {
  if (err instanceof HTTPException) {
    return c.json({ error: "bad_request", message: err.message }, err.status);
  }
  if (err instanceof EnvError) {
    log.error("config", { message: err.message });
    return c.json({ error: "misconfigured", message: "the service is misconfigured; see its log" }, 500);
  }
  if (isConnectionError(err)) {
    log.warn("database unavailable", { path: c.req.path, message: String((err as Error).message) });
    return c.json({ error: "unavailable", message: "the database is unreachable; try again shortly" }, 503);
  }
  log.error("unhandled", { path: c.req.path, message: String(err?.message ?? err) });
  return c.json({ error: "internal", message: "internal error" }, 500);
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
 * with the same HTTP status. Used by the edge's limits (413, 415, 429, 431) and by any worker.
 */
export function errorResponse(path: string, status: number, error: string, message: string, headers: Record<string, string> = {}): Response {
  const body = isMcpPath(path) ? { jsonrpc: "2.0", id: null, error: { code: jsonRpcCode(status), message, data: { error } } } : { error, message };
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}
