/**
 * Hono middleware for the MCP endpoint's paths: every error answer (status >= 400) becomes a
 * JSON-RPC error response `{"jsonrpc": "2.0", "id": null, "error": {...}}` with the same status
 * and headers (`WWW-Authenticate` included), whichever worker produced it (a 401 from the auth
 * step, a 404 for an unknown sub-path). Answers that already are JSON-RPC pass unchanged; the
 * original `{"error", "message"}` pair is kept in `error.data`.
 */
import type { MiddlewareHandler } from "hono";
import { isMcpPath } from "../../http";

/** Bodies larger than this are replaced without being read (error bodies are small). */
const MAX_ERROR_BODY = 64 * 1024;

/** JSON-RPC code for an HTTP error status: -32600 for a request refused as such, -32001 unauthorised, -32000 otherwise. */
export function codeForStatus(status: number): number {
  if (status === 401 || status === 403) return -32001;
  if (status >= 400 && status < 500 && status !== 429) return -32600;
  return -32000;
}

/** Returns the `jsonRpcErrors` middleware. */
export function jsonRpcErrors(): MiddlewareHandler {
  return async function jsonRpcErrorsMiddleware(c, next) {
    await next();
    const res = c.res;
    if (res.status < 400 || !isMcpPath(c.req.path)) return;
    const type = (res.headers.get("content-type") ?? "").toLowerCase();
    if (type.includes("text/event-stream")) return;
    const length = Number(res.headers.get("content-length") ?? "0");
    let original: Record<string, unknown> = {};
    if (type.includes("json") && length <= MAX_ERROR_BODY) {
      const text = await res.text();
      try {
        const v = JSON.parse(text);
        if (v && typeof v === "object" && !Array.isArray(v)) {
          if (v.jsonrpc === "2.0" && v.error) {
            c.res = undefined as unknown as Response;
            c.res = new Response(text, res);
            return;
          }
          original = v as Record<string, unknown>;
        }
      } catch {
        // not JSON after all: replaced below
      }
    } else {
      await res.body?.cancel().catch(() => {});
    }
    const message =
      typeof original.message === "string"
        ? original.message
        : typeof original.error === "string"
          ? original.error
          : `HTTP ${res.status}`;
    const data = typeof original.error === "string" ? { error: original.error } : undefined;
    const headers = new Headers(res.headers);
    headers.delete("content-length");
    headers.set("content-type", "application/json");
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: null,
      error: { code: codeForStatus(res.status), message, ...(data ? { data } : {}) },
    });
    c.res = undefined as unknown as Response;
    c.res = new Response(body, { status: res.status, statusText: res.statusText, headers });
  };
}
