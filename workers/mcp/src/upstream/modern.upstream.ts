/**
 * Modern upstreams (2026-07-28): every request is self-describing and stands alone - no upstream
 * session, nothing kept between requests. The gateway sends the user's own per-request `_meta`
 * (protocol version, client capabilities and info, log level, trace context) and the standard
 * headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*` from the tool's
 * `x-mcp-header` annotations). A server-to-client need comes back as an `input_required` result
 * (MRTR), handled by the bridge; a modern upstream never sends requests on its streams.
 */
import { statusHint } from "../../../../shared/upstream-diagnosis";
import {
  rpcError,
  isRequest,
  isResponse,
  UPSTREAM_ERROR,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../../../../shared/mcp/jsonrpc";
import { LATEST_MODERN_VERSION, MODERN_VERSIONS } from "../../../../shared/mcp/versions";
import { log } from "../../../../shared/log";
import type { CatalogServer } from "../catalog.client";
import { errorBody, upstreamFetch, UpstreamFailure } from "./http";
import { encodeHeaderValue, nameSource, paramHeaders, paramHeaderValues } from "./mcp-headers";
import { clientTraceHeaders } from "./session.upstream";
import type { Upstream, UpstreamCall } from "./upstream";

const META = {
  version: "io.modelcontextprotocol/protocolVersion",
  caps: "io.modelcontextprotocol/clientCapabilities",
  info: "io.modelcontextprotocol/clientInfo",
  level: "io.modelcontextprotocol/logLevel",
} as const;

/** The modern revision to speak to a server: the newest both support. */
export function modernVersionFor(server: Pick<CatalogServer, "supportedVersions">): string {
  const theirs = server.supportedVersions ?? [];
  return MODERN_VERSIONS.find((v) => theirs.includes(v)) ?? LATEST_MODERN_VERSION;
}

/** Capabilities as a modern request declares them (session-era-only fields dropped). */
export function modernCaps(caps: Record<string, unknown>): Record<string, unknown> {
  const { tasks: _tasks, ...rest } = caps;
  return rest;
}

/** The request with the gateway's `_meta` for the upstream: the client's own keys kept, the protocol keys set. */
export function withModernMeta(
  call: Pick<UpstreamCall, "client">,
  req: JsonRpcRequest,
  version: string,
): JsonRpcRequest {
  const params = req.params ?? {};
  const given =
    params._meta && typeof params._meta === "object" && !Array.isArray(params._meta)
      ? (params._meta as Record<string, unknown>)
      : {};
  const c = call.client;
  const meta: Record<string, unknown> = {
    ...given,
    [META.version]: version,
    [META.caps]: modernCaps(c.caps),
    ...(c.info ? { [META.info]: c.info } : {}),
  };
  if (c.logLevel) meta[META.level] = c.logLevel;
  else delete meta[META.level];
  if (c.trace?.traceparent) meta.traceparent = c.trace.traceparent;
  if (c.trace?.tracestate) meta.tracestate = c.trace.tracestate;
  return { ...req, params: { ...params, _meta: meta } };
}

/** The standard and parameter headers of a request to `server`. */
export function modernHeaders(server: CatalogServer, req: JsonRpcRequest): Record<string, string> {
  const h: Record<string, string> = { "mcp-method": req.method };
  const src = nameSource(req.method, req.params);
  if (src && typeof src.value === "string") h["mcp-name"] = encodeHeaderValue(src.value);
  if (req.method === "tools/call" && typeof req.params?.name === "string") {
    const tool = server.tools.find((t) => t.name === req.params!.name);
    const decls = tool ? paramHeaders(tool.inputSchema) : [];
    if (Array.isArray(decls)) Object.assign(h, paramHeaderValues(decls, req.params.arguments));
  }
  return h;
}

/** Whether a parsed body is a JSON-RPC error response. */
function asErrorResponse(body: unknown): JsonRpcResponse | null {
  if (!body || typeof body !== "object") return null;
  const b = body as Record<string, unknown>;
  const e = b.error as Record<string, unknown> | undefined;
  return b.jsonrpc === "2.0" && e && typeof e.code === "number" && typeof e.message === "string"
    ? (b as unknown as JsonRpcResponse)
    : null;
}

export const modernUpstream: Upstream = {
  async *send(call, req) {
    const server = call.server;
    const version = modernVersionFor(server);
    const body = withModernMeta(call, req, version);
    try {
      const ex = await upstreamFetch(
        call.target,
        { method: "POST", body, version, headers: { ...modernHeaders(server, req), ...clientTraceHeaders(call) } },
        call.limits,
        call.signal,
      );
      if (!ex.res.ok) {
        if (ex.res.status === 401) call.unauthorized?.();
        // a modern server answers protocol errors as 4xx with a JSON-RPC error body: pass it on
        const err = asErrorResponse(await errorBody(ex.res));
        if (err && ex.res.status < 500) {
          yield { kind: "response", message: { jsonrpc: "2.0", id: req.id, error: err.error } };
          return;
        }
        log.warn("upstream refused a request", { server: server.id, method: req.method, status: ex.res.status });
        call.failed();
        yield {
          kind: "response",
          message: rpcError(
            req.id,
            UPSTREAM_ERROR,
            `Upstream ${server.id} failed: HTTP ${ex.res.status} - ${statusHint(ex.res.status)}`,
          ),
        };
        return;
      }
      call.onAnswer?.((ex.res.headers.get("content-type") ?? "").toLowerCase().includes("application/json"));
      for await (const m of ex.messages()) {
        if (isResponse(m)) {
          if (m.id === req.id) {
            ex.abort("done");
            yield { kind: "response", message: m };
            return;
          }
          continue;
        }
        // a modern server sends its needs as input_required results, never as requests
        if (isRequest(m)) {
          log.warn("modern upstream sent a request on a response stream; dropped", {
            server: server.id,
            method: m.method,
          });
          continue;
        }
        yield { kind: "notification", message: m };
      }
      if (call.signal.aborted) return;
      call.failed();
      yield {
        kind: "response",
        message: rpcError(
          req.id,
          UPSTREAM_ERROR,
          `Upstream ${server.id} failed: it closed the stream without answering`,
        ),
      };
    } catch (err) {
      if (!(err instanceof UpstreamFailure)) throw err;
      if (err.status === 401) call.unauthorized?.();
      log.warn("upstream failure", { server: server.id, method: req.method, message: err.message });
      call.failed();
      yield {
        kind: "response",
        message: rpcError(req.id, UPSTREAM_ERROR, `Upstream ${server.id} failed: ${err.message}`),
      };
    }
  },
};
