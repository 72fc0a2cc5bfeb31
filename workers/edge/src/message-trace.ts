/**
 * A 2026-07-28 client may send its trace context only in the message (`params._meta.traceparent`
 * and `tracestate`, the protocol's trace keys), with no `traceparent` header. The edge then
 * continues that trace with its own span before anything else happens, so the edge, auth, mcp,
 * catalog and upstream spans form one trace (the edge's span's parent is the client's span).
 *
 * The body is looked at only where that can pay: a POST to `/mcp*` whose `MCP-Protocol-Version`
 * is a modern revision, with no valid client `traceparent` header and a declared Content-Length
 * of at most {@link MAX_PEEK_BYTES}. It is read once here and the caller forwards the bytes read,
 * in the Request it builds anyway (with the trace headers), and parsed only when it contains
 * `"traceparent"` at all, so a modern request without a trace in its body costs one read and one
 * substring search. A larger or
 * chunked body streams through untouched, as before: the mcp worker then moves its own span
 * into the message's trace and names the edge's trace in `mcpgw.edge_trace_id`
 * (workers/mcp/src/downstream/mcp.routes.ts).
 */
import { isMcpPath } from "../../../shared/http";
import { isModernVersion } from "../../../shared/mcp/versions";
import { currentSpan, parseTraceparent } from "../../../shared/observe/trace";

const decoder = new TextDecoder();

/** Largest body the edge reads for a trace context: 64 KiB (JSON-RPC requests are far smaller). */
export const MAX_PEEK_BYTES = 64 * 1024;

/**
 * Continues the current (edge) span in the trace named by the message's `_meta` when the request
 * qualifies (see the module header). Returns the body when it read it (the request's body is then
 * used up: forward these bytes), else null (the request is untouched).
 */
export async function continueMessageTrace(request: Request, path: string): Promise<ArrayBuffer | null> {
  const span = currentSpan();
  // a valid client header started the span under the client's: the header wins over `_meta`
  if (!span || span.parent !== null) return null;
  if (request.method !== "POST" || !isMcpPath(path) || !isModernVersion(request.headers.get("mcp-protocol-version")))
    return null;
  const length = Number(request.headers.get("content-length") ?? NaN);
  if (!(length > 0 && length <= MAX_PEEK_BYTES) || request.body === null) return null;
  // the bytes go on as they came (a body that is not UTF-8 is the mcp worker's to refuse)
  const bytes = await request.arrayBuffer();
  const text = decoder.decode(bytes);
  if (!text.includes('"traceparent"')) return bytes;
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return bytes; // the mcp worker answers the parse error
  }
  if (!message || typeof message !== "object" || Array.isArray(message)) return bytes;
  const meta = (message as { params?: { _meta?: unknown } }).params?._meta as Record<string, unknown> | undefined;
  if (!meta || typeof meta !== "object" || typeof meta.traceparent !== "string") return bytes;
  const client = parseTraceparent(meta.traceparent, typeof meta.tracestate === "string" ? meta.tracestate : undefined);
  if (client) span.continueFrom(client).set("mcpgw.trace_source", "_meta");
  return bytes;
}
