/**
 * The modern downstream (2026-07-28): every POST is one self-describing request - its protocol
 * version, client capabilities and info, log level and trace context in `_meta` (validated by
 * classify.ts together with the standard headers) - answered on its own, with no session. Results
 * carry `resultType` and the answering server's `serverInfo`; the `Mcp-Param-*` headers of a tool
 * call must agree with its arguments; `subscriptions/listen` opens the stream of list changes and
 * resource updates. Notifications are accepted and dropped (this revision defines none over HTTP).
 */
import { traceHeaders } from "../../../../shared/observe/trace";
import {
  rpcError,
  HEADER_MISMATCH,
  INVALID_PARAMS,
  METHOD_NOT_FOUND,
  MISSING_CAPABILITY,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../../../../shared/mcp/jsonrpc";
import { serverOfName } from "../../../../shared/naming";
import type { Outgoing } from "../bridge/bridge";
import type { UserCatalog } from "../catalog.client";
import type { ClientView, RequestContext } from "../dispatch/context";
import { Dispatcher } from "../dispatch/dispatcher";
import { namedItems } from "../dispatch/names";
import { endpointInfo } from "../dispatch/server-info";
import { paramHeaderMismatch, paramHeaders } from "../upstream/mcp-headers";
import type { EraChoice, ModernMeta } from "./classify";
import { listen } from "./listen";
import {
  httpError,
  isResponseMessage,
  jsonAnswer,
  replay,
  responsesOnly,
  sseResponse,
  type StreamDeps,
} from "./respond";
import type { Exchange } from "./session.transport";

const SERVER_INFO = "io.modelcontextprotocol/serverInfo";

/** How long a modern request may wait for its answer to start before it is answered as a stream (ms). */
const STREAM_AFTER_MS = 500;

function clientOf(x: Exchange, version: string, meta: ModernMeta): ClientView {
  // the request's span (shared/observe, continuing the edge's) is the upstream calls' parent
  const span = traceHeaders();
  const traceparent = span.traceparent ?? meta.traceparent ?? x.c.req.header("traceparent");
  const tracestate = span.traceparent ? span.tracestate : (meta.tracestate ?? x.c.req.header("tracestate"));
  return {
    era: "modern",
    version: version as ClientView["version"],
    caps: meta.caps,
    ...(meta.info ? { info: meta.info } : {}),
    ...(meta.logLevel ? { logLevel: meta.logLevel } : {}),
    ...(traceparent ? { trace: { traceparent, ...(tracestate ? { tracestate } : {}) } } : {}),
    canReceiveRequests: false,
  };
}

/**
 * The HTTP status of a modern error answer: protocol errors the spec pins (-32601 404; -32021,
 * -32020, -32022 and malformed requests 400), everything a handler answers in-band 200.
 */
export function statusOf(res: JsonRpcResponse, methodKnown: boolean): number {
  const code = res.error?.code;
  if (code === undefined) return 200;
  if (code === METHOD_NOT_FOUND && !methodKnown) return 404;
  if (code === MISSING_CAPABILITY) return 400;
  return 200;
}

/** Forwarded results that must carry cache hints (2026-07-28 caching; the lists carry the gateway's own). */
const CACHEABLE_FORWARDED = new Set(["resources/read"]);

/**
 * A result as a modern client must get it: `resultType` (absent upstream: complete), the server's
 * identity, and for cacheable forwarded results cache hints - the upstream's `ttlMs` (else 0) and
 * always `cacheScope: "private"`: through the gateway a result belongs to the caller's grants,
 * whatever the upstream said about it.
 */
export function modernResult(
  res: JsonRpcResponse,
  serverInfo: Record<string, unknown>,
  method: string,
): JsonRpcResponse {
  if (!res.result) return res;
  const r = res.result;
  const meta = (r._meta && typeof r._meta === "object" ? r._meta : {}) as Record<string, unknown>;
  const resultType = typeof r.resultType === "string" ? r.resultType : "complete";
  const hints =
    CACHEABLE_FORWARDED.has(method) && resultType === "complete"
      ? {
          ttlMs: typeof r.ttlMs === "number" && Number.isFinite(r.ttlMs) && r.ttlMs >= 0 ? Math.floor(r.ttlMs) : 0,
          cacheScope: "private",
        }
      : {};
  return {
    ...res,
    result: { ...r, resultType, ...hints, _meta: { ...meta, [SERVER_INFO]: meta[SERVER_INFO] ?? serverInfo } },
  };
}

/** Methods the gateway knows in the modern era (an unknown one is 404). */
const MODERN_METHODS = new Set([
  "server/discover",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/read",
  "resources/templates/list",
  "completion/complete",
  "subscriptions/listen",
  "tasks/get",
  "tasks/update",
  "tasks/cancel",
]);

/** The server a tools/call or prompts/get names on `/mcp` (its catalog part is all that is needed). */
function namedServer(req: JsonRpcRequest): string | null | undefined {
  if (req.method !== "tools/call" && req.method !== "prompts/get") return undefined;
  const name = req.params?.name;
  if (typeof name !== "string") return undefined;
  const server = serverOfName(name);
  return server && /^[a-z0-9][a-z0-9-]{0,31}$/.test(server) ? server : null;
}

export async function statelessPost(
  x: Exchange,
  choice: Extract<EraChoice, { era: "modern" }>,
  preloaded: UserCatalog | null,
): Promise<Response> {
  if (choice.kind === "notification") return new Response(null, { status: 202 });
  const req = choice.message;
  const known = MODERN_METHODS.has(req.method);
  if (!known) return httpError(404, METHOD_NOT_FOUND, `Method not found: ${req.method}`, {}, undefined, req.id);
  let catalog = preloaded;
  if (!catalog) {
    const only = namedServer(req);
    catalog =
      only === null
        ? { email: x.identity.email, known: true, isAdmin: false, groups: [], servers: [] }
        : await x.load(only ?? undefined);
  }
  const client = clientOf(x, choice.version, choice.meta);
  const serverInfo = endpointInfo(catalog, x.scope);
  // the Mcp-Param-* headers of a tool call must say what its arguments say
  if (req.method === "tools/call" && typeof req.params?.name === "string") {
    const hit = namedItems(catalog, x.scope, "tools").get(req.params.name);
    const decls = hit ? paramHeaders(hit.item.inputSchema) : [];
    const mismatch = Array.isArray(decls)
      ? paramHeaderMismatch(decls, req.params.arguments, x.c.req.raw.headers)
      : null;
    if (mismatch) return httpError(400, HEADER_MISMATCH, `Header mismatch: ${mismatch}`, {}, undefined, req.id);
  }

  let upstreamAnswered: ((json: boolean) => void) | undefined;
  const upstreamJson = new Promise<boolean>((r) => (upstreamAnswered = r));
  const ctx: RequestContext = {
    env: x.env,
    identity: x.identity,
    scope: x.scope,
    catalog,
    db: x.db,
    catalogBinding: x.catalogBinding,
    later: x.later,
    signal: x.abort.signal,
    client,
    onUpstreamAnswer: upstreamAnswered!,
  };
  const deps: StreamDeps = { streams: x.streams, abort: x.abort };
  if (req.method === "subscriptions/listen") return listen(ctx, req, deps);

  const shaped = shape(new Dispatcher(ctx).handle(req), serverInfo, req.method);
  const first = shaped.next();
  // the first message before any upstream headers: an answer the gateway gave itself. An answer
  // that has not started after STREAM_AFTER_MS becomes a stream with keep-alives: closing it is how
  // a modern client cancels, and only a write tells the gateway that the client has gone.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), STREAM_AFTER_MS)));
  const json = await Promise.race([
    upstreamJson,
    first.then(
      () => true,
      () => false,
    ),
    late,
  ]);
  clearTimeout(timer);
  if (json === "late")
    return sseResponse(replay([], first, shaped), deps, { keepAlive: true, pingMs: x.env.MCP_SSE_PING_MS });
  if (json) {
    const got = await responsesOnly(first, shaped);
    if (got.done) {
      const res = got.messages[0] as JsonRpcResponse;
      return jsonAnswer(res, statusOf(res, known));
    }
    return sseResponse(replay(got.messages, got.next, shaped), deps, {
      keepAlive: true,
      pingMs: x.env.MCP_SSE_PING_MS,
    });
  }
  return sseResponse(replay([], first, shaped), deps, { keepAlive: true, pingMs: x.env.MCP_SSE_PING_MS });
}

/** The dispatcher's output as a modern client gets it: responses shaped, nothing else of the session era. */
async function* shape(
  items: AsyncGenerator<Outgoing>,
  serverInfo: Record<string, unknown>,
  method: string,
): AsyncGenerator<Outgoing> {
  for await (const m of items) {
    if (isResponseMessage(m)) yield modernResult(m, serverInfo, method);
    else if (!("marker" in m)) yield m;
  }
}
