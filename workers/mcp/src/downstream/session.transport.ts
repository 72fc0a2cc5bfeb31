/**
 * The session era downstream (Streamable HTTP 2025-03-26 .. 2025-11-25): `initialize` opens a
 * session whose state travels in the encrypted, user-bound `Mcp-Session-Id` (tokens.ts); POST
 * carries requests, notifications, responses to relayed requests and (2025-03-26) batches,
 * answered as JSON or SSE as the client accepts; GET opens the stream of server-initiated messages
 * or resumes a broken one after `Last-Event-ID`; DELETE ends the session. Every request becomes a
 * RequestContext for the dispatcher.
 */
import { traceHeaders } from "../../../../shared/observe/trace";
import { rateLimited, sessions } from "../../../../shared/observe/families";
import type { Context } from "hono";
import type { Identity } from "../../../../shared/identity";
import { log } from "../../../../shared/log";
import type { RateCharge } from "../../../../shared/middleware/rate-limit";
import {
  classify,
  rpcError,
  INVALID_REQUEST,
  resultResponse,
  type Classified,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../../../../shared/mcp/jsonrpc";
import { allowsBatches, isSupportedVersion, negotiateVersion } from "../../../../shared/mcp/versions";
import { serverOfName } from "../../../../shared/naming";
import {
  answerUpstream,
  cancelInFlight,
  deliverInputAnswer,
  limitsOf,
  relayStream,
  upstreamCallFor,
} from "../bridge/bridge";
import { isAggregate, type CatalogServer, type UserCatalog } from "../catalog.client";
import type { McpDb } from "../db";
import type { ClientView, RequestContext } from "../dispatch/context";
import { Dispatcher } from "../dispatch/dispatcher";
import { initializeResult } from "../dispatch/server-info";
import type { McpEnv } from "../env";
import { openEventId, openRelayedId, openSession, sealSession, type SessionState } from "../tokens";
import {
  adoptAhead,
  deleteUpstream,
  postToUpstream,
  resumeUpstream,
  standaloneStream,
} from "../upstream/session.upstream";
import { busyServers, closeStreams, registerStream } from "../upstream/pool";
import {
  endSession,
  isSessionEnded,
  listUpstreamSessions,
  purgeOldSessions,
  trimParked,
} from "../upstream/upstream-sessions.repo";
import { upstreamTarget } from "../upstream/credentials";
import { UpstreamFailure } from "../upstream/http";
import { upstreamKind, type UpstreamCall } from "../upstream/upstream";
import {
  collectResponses,
  httpError,
  isResponseMessage,
  jsonAnswer,
  merge,
  replay,
  responsesOnly,
  sseResponse,
  type StreamDeps,
} from "./respond";
import { aggregateStream, wakeStreams } from "./streams";

export const SESSION_HEADER = "Mcp-Session-Id";

/** One HTTP request to an MCP endpoint, as the routes hand it on. */
export interface Exchange {
  c: Context;
  env: McpEnv;
  scope: string;
  identity: Identity;
  db: McpDb;
  catalogBinding: Fetcher;
  later: (p: Promise<unknown>) => void;
  /** Called when the answer streams: cleanup waits for `done`. */
  streams: (done: Promise<void>) => void;
  /** Aborted when the client goes away (request signal) or stops reading the answer's stream. */
  abort: AbortController;
  /** The caller's catalog: the whole of it, or one server's part. */
  load: (server?: string) => Promise<UserCatalog>;
}

/** The client of a session, as the dispatcher sees it. */
function clientOf(state: SessionState, canReceiveRequests: boolean, c: Context): ClientView {
  // the request's span (shared/observe, continuing the edge's) is the upstream calls' parent
  const span = traceHeaders();
  const traceparent = span.traceparent ?? c.req.header("traceparent");
  const tracestate = span.traceparent ? span.tracestate : c.req.header("tracestate");
  return {
    era: "legacy",
    version: state.v as ClientView["version"],
    caps: state.caps,
    ...(state.info ? { info: state.info } : {}),
    ...(traceparent ? { trace: { traceparent, ...(tracestate ? { tracestate } : {}) } } : {}),
    canReceiveRequests,
  };
}

function contextOf(
  x: Exchange,
  state: SessionState,
  catalog: UserCatalog,
  canReceiveRequests: boolean,
  onUpstreamAnswer?: (json: boolean) => void,
): RequestContext {
  return {
    env: x.env,
    identity: x.identity,
    scope: x.scope,
    catalog,
    db: x.db,
    catalogBinding: x.catalogBinding,
    later: x.later,
    signal: x.abort.signal,
    client: clientOf(state, canReceiveRequests, x.c),
    session: state,
    ...(onUpstreamAnswer ? { onUpstreamAnswer } : {}),
  };
}

/**
 * Validates the session header of a non-initialize request: 400 missing, 404 unknown, ended,
 * expired, foreign or from another endpoint. An `MCP-Protocol-Version` must be a session-era
 * version the gateway speaks (a client may name another supported one on concurrent requests).
 */
async function session(x: Exchange): Promise<SessionState | Response> {
  const token = x.c.req.header(SESSION_HEADER);
  if (!token) return httpError(400, INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required");
  const state = await openSession(x.env.SESSION_SECRET, token);
  const expired = state !== null && Date.now() / 1000 - state.iat > x.env.MCP_SESSION_MAX_AGE_SECONDS;
  if (!state || expired || state.email !== x.identity.email.toLowerCase() || state.scope !== x.scope) {
    return httpError(404, INVALID_REQUEST, "Session not found");
  }
  const version = x.c.req.header("mcp-protocol-version");
  if (version !== undefined && !isSupportedVersion(version.trim())) {
    return httpError(
      400,
      INVALID_REQUEST,
      `Bad Request: unsupported MCP-Protocol-Version ${version} (this session uses ${state.v})`,
    );
  }
  if (await isSessionEnded(x.db, state.sid, state.iat)) return httpError(404, INVALID_REQUEST, "Session not found");
  return state;
}

/**
 * What the client accepts, and whether it prefers SSE: a higher q-value, or (equal q) naming
 * `text/event-stream` first. Most clients name JSON first and get JSON for what cannot stream.
 */
export function accepts(header: string | undefined): { json: boolean; sse: boolean; prefersSse: boolean } {
  const ranges = (header ?? "")
    .toLowerCase()
    .split(",")
    .map((part, i) => {
      const [type, ...params] = part.split(";").map((x) => x.trim());
      const q = params.find((p) => p.startsWith("q="));
      return { type: type ?? "", q: q ? Number(q.slice(2)) || 0 : 1, i };
    })
    .filter((r) => r.type && r.q > 0);
  if (!ranges.length || ranges.some((r) => r.type === "*/*")) return { json: true, sse: true, prefersSse: false };
  const json = ranges.find((r) => r.type === "application/json" || r.type === "application/*");
  const sse = ranges.find((r) => r.type === "text/event-stream" || r.type === "text/*");
  return {
    json: !!json,
    sse: !!sse,
    prefersSse: !!sse && (!json || sse.q > json.q || (sse.q === json.q && sse.i < json.i)),
  };
}

/** The one server a lone aggregate-endpoint message names (a call or get by `<server>__<name>`), if any. */
function namedServer(items: Classified[]): string | null | undefined {
  if (items.length !== 1) return undefined;
  const m = items[0]!;
  if (m.kind !== "request" || (m.message.method !== "tools/call" && m.message.method !== "prompts/get"))
    return undefined;
  const name = m.message.params?.name;
  if (typeof name !== "string") return undefined;
  const server = serverOfName(name);
  return server && /^[a-z0-9][a-z0-9-]{0,31}$/.test(server) ? server : null;
}

/** Methods answered from the catalog never stream; everything forwarded may. */
function needsStream(requests: JsonRpcRequest[]): boolean {
  const local = new Set(["ping", "tools/list", "prompts/list", "resources/list", "resources/templates/list"]);
  return requests.some((r) => !local.has(r.method));
}

/** A POST of the session era: `body` parsed, `preloaded` the catalog when the route loaded it already. */
export async function sessionPost(x: Exchange, body: unknown, preloaded: UserCatalog | null): Promise<Response> {
  const accept = accepts(x.c.req.header("accept"));
  if (!accept.json && !accept.sse)
    return httpError(406, INVALID_REQUEST, "Not Acceptable: accept application/json and/or text/event-stream");
  const batch = Array.isArray(body);
  const items = batch ? (body as unknown[]) : [body];
  if (batch && items.length === 0) return httpError(400, INVALID_REQUEST, "Invalid Request: empty batch");
  if (batch && items.length > x.env.MAX_BATCH_MESSAGES) {
    return httpError(
      400,
      INVALID_REQUEST,
      `Invalid Request: a batch may hold at most ${x.env.MAX_BATCH_MESSAGES} messages (MAX_BATCH_MESSAGES); this one holds ${items.length}`,
    );
  }
  const classified = items.map(classify);

  // initialize: opens a session; never part of a batch
  const init = classified.find((m) => m.kind === "request" && m.message.method === "initialize");
  if (init && init.kind === "request") {
    if (batch) return httpError(400, INVALID_REQUEST, "Invalid Request: initialize must not be part of a batch");
    return initialize(x, preloaded ?? (await x.load()), init.message);
  }

  const state = await session(x);
  if (state instanceof Response) return state;
  if (batch && !allowsBatches(state.v as never))
    return httpError(400, INVALID_REQUEST, `Invalid Request: JSON-RPC batches are not part of protocol ${state.v}`);
  // every message of a batch counts against the rate limit (the HTTP request counted one)
  if (batch && items.length > 1) {
    const charge = x.c.get("rateCharge" as never) as RateCharge | undefined;
    const charged = charge?.(items.length - 1);
    if (charged && !charged.ok) {
      rateLimited.inc({ limit: "per_user_minute" });
      return httpError(
        429,
        INVALID_REQUEST,
        `Too Many Requests: this batch of ${items.length} messages exceeds the rate limit of ${charged.limit} per minute; retry after ${charged.retryAfter} s`,
        { "Retry-After": String(charged.retryAfter) },
      );
    }
  }
  // a call by prefixed name needs only that server's part of the catalog (a name with no
  // server part resolves to nothing in any catalog)
  let catalog = preloaded;
  if (!catalog) {
    const only = namedServer(classified);
    catalog =
      only === null
        ? { email: x.identity.email, known: true, isAdmin: false, groups: [], servers: [] }
        : await x.load(only ?? undefined);
  }

  const requestsIn = classified
    .filter((m) => m.kind === "request")
    .map((m) => (m as { message: JsonRpcRequest }).message);
  const asSse = accept.sse && (!accept.json || accept.prefersSse || needsStream(requestsIn));
  // One forwarded request from a client that takes both: SSE unless the upstream itself answers
  // JSON (then only the response can come; progress, logging and server-to-client requests
  // travel on SSE alone), which spares re-streaming it. Decided once the upstream's headers are in.
  let upstreamAnswered: ((json: boolean) => void) | undefined;
  const upstreamJson =
    asSse && accept.json && !accept.prefersSse && !batch && requestsIn.length === 1
      ? new Promise<boolean>((r) => (upstreamAnswered = r))
      : null;
  const ctx = contextOf(x, state, catalog, asSse, upstreamAnswered);
  const dispatcher = new Dispatcher(ctx);
  const immediate: JsonRpcResponse[] = [];
  const requests: JsonRpcRequest[] = [];
  let refused = 0;
  for (const m of classified) {
    if (m.kind === "invalid") immediate.push(rpcError(m.id, INVALID_REQUEST, `Invalid Request: ${m.reason}`));
    else if (m.kind === "request") requests.push(m.message);
    else if (m.kind === "notification") x.later(notifyUpstreams(ctx, catalog, m.message));
    else if (!(await relayResponse(x, state, catalog, m.message))) refused++;
  }
  if (requests.length === 0 && immediate.length === 0) {
    if (refused)
      return httpError(400, INVALID_REQUEST, "Invalid Request: a response names a request this session never received");
    return new Response(null, { status: 202 });
  }
  if (requests.length === 0) return jsonAnswer(batch ? immediate : immediate[0]!);

  const deps: StreamDeps = {
    streams: x.streams,
    abort: x.abort,
    resumable: { secret: x.env.SESSION_SECRET, sid: state.sid },
  };
  const merged = merge(
    requests.map((r) => dispatcher.handle(r)),
    immediate,
    Math.max(1, Math.floor(x.env.MAX_CONCURRENT_CALLS_PER_USER / 2)),
  );
  if (upstreamJson && requests.length === 1 && immediate.length === 0) {
    const first = merged.next();
    // the first message before any upstream headers: an answer the gateway gave itself
    const json = await Promise.race([
      upstreamJson,
      first.then(
        () => true,
        () => false,
      ),
    ]);
    if (!json) return sseResponse(replay([], first, merged), deps, { keepAlive: false });
    const got = await responsesOnly(first, merged);
    if (got.done) return jsonAnswer(got.messages[0]!);
    return sseResponse(replay(got.messages, got.next, merged), deps, { keepAlive: false });
  }
  // Answer as SSE when the client takes it (notifications and relayed requests can flow);
  // JSON otherwise, keeping only the responses.
  if (asSse) return sseResponse(merged, deps, { keepAlive: false });
  const responses = await collectResponses(merged);
  return jsonAnswer(batch ? responses : responses[0]!);
}

async function initialize(x: Exchange, catalog: UserCatalog, req: JsonRpcRequest): Promise<Response> {
  const p = req.params ?? {};
  const version = negotiateVersion(p.protocolVersion);
  const caps =
    p.capabilities && typeof p.capabilities === "object" && !Array.isArray(p.capabilities)
      ? (p.capabilities as Record<string, unknown>)
      : {};
  const info =
    p.clientInfo && typeof p.clientInfo === "object" && !Array.isArray(p.clientInfo)
      ? (p.clientInfo as Record<string, unknown>)
      : undefined;
  const state: SessionState = {
    sid: crypto.randomUUID(),
    email: x.identity.email.toLowerCase(),
    scope: x.scope,
    v: version,
    caps,
    ...(info
      ? {
          info: {
            name: String(info.name ?? "client").slice(0, 100),
            version: String(info.version ?? "0").slice(0, 50),
          },
        }
      : {}),
    iat: Math.floor(Date.now() / 1000),
  };
  const token = await sealSession(x.env.SESSION_SECRET, state);
  sessions.inc({ event: "opened" });
  const result = initializeResult(catalog, x.scope, version);
  if (catalog.servers.length === 0) {
    log.warn("user mapped to no MCP server", { email: x.identity.email, known: catalog.known, groups: catalog.groups });
  }
  // now and then, forget sessions and bridge state past their age (no timer needed, any replica does it)
  if (Math.random() < 0.01) {
    x.later(purgeOldSessions(x.db, x.env.MCP_SESSION_MAX_AGE_SECONDS));
    x.later(x.db.run("purgeBridge", Math.max(x.env.MRTR_STATE_TTL_SECONDS * 2, 3600)));
  }
  // the upstream sessions the user's last session parked: adopted now, ready for the first GET or call
  if (x.env.MCP_SESSION_POOL_SECONDS > 0) {
    const servers = catalog.servers.filter(
      (s) => (x.scope === "*" || s.id === x.scope) && upstreamKind(s) === "session",
    );
    if (servers.length) {
      const ctx = contextOf(x, state, catalog, false);
      x.later(
        adoptAhead(
          state.sid,
          servers.map((s) => s.id),
          () => Promise.all(servers.map((s) => upstreamCallFor(ctx, s))),
        ),
      );
    }
  }
  log.info("mcp session opened", { email: x.identity.email, scope: x.scope, version, servers: catalog.servers.length });
  return jsonAnswer(resultResponse(req.id, result), 200, { [SESSION_HEADER]: token });
}

/** A client's answer to a relayed server-to-client request: back to the upstream session, or to the request waiting for it. */
async function relayResponse(
  x: Exchange,
  state: SessionState,
  catalog: UserCatalog,
  m: JsonRpcResponse,
): Promise<boolean> {
  const r = await openRelayedId(x.env.SESSION_SECRET, String(m.id));
  if (!r || r.sid !== state.sid || r.email !== x.identity.email.toLowerCase()) {
    log.warn("client response with an unknown or foreign id refused", { email: x.identity.email });
    return false;
  }
  if (r.k === "mrtr") {
    x.later(deliverInputAnswer(x, r.box, r.key, m));
    return true;
  }
  const server = catalog.servers.find(
    (s) => s.id === r.reply.server && (isAggregate(catalog, x.scope) || s.id === x.scope),
  );
  if (!server) return false;
  x.later(
    upstreamTarget(x.catalogBinding, x.identity.email, server).then((target) =>
      answerUpstream(target, r.reply, { ...m, id: r.id }, limitsOf(x)),
    ),
  );
  return true;
}

/** Sends a client notification (cancellation, roots change) to the upstream sessions it concerns. */
async function notifyUpstreams(ctx: RequestContext, catalog: UserCatalog, m: JsonRpcNotification): Promise<void> {
  if (m.method !== "notifications/cancelled" && m.method !== "notifications/roots/list_changed") return;
  const sid = ctx.session?.sid;
  if (!sid) return;
  // a request to a modern upstream is cancelled by ending it (closing its stream)
  if (m.method === "notifications/cancelled") cancelInFlight(sid, m.params?.requestId);
  const sessions = await listUpstreamSessions(ctx.db, sid);
  await Promise.all(
    sessions.map(async (us) => {
      const server = endpointServer(catalog, ctx.scope, us.server);
      if (server)
        await postToUpstream(
          await upstreamTarget(ctx.catalogBinding, ctx.identity.email, server),
          m,
          us.usid,
          us.version,
          limitsOf(ctx),
        );
    }),
  );
}

function endpointServer(catalog: UserCatalog, scope: string, id: string): CatalogServer | undefined {
  return catalog.servers.find((s) => s.id === id && (isAggregate(catalog, scope) || s.id === scope));
}

/** An UpstreamCall for a session's streams (GET), outside any one request. */
async function streamCall(ctx: RequestContext, server: CatalogServer): Promise<UpstreamCall> {
  return { ...(await upstreamCallFor(ctx, server)), failed: () => {} };
}

/**
 * GET: the stream of server-initiated messages. With `Last-Event-ID` naming an event the gateway
 * sealed, the upstream stream it came from is resumed there (any replica). Otherwise
 * `/mcp/<server>` streams that upstream's GET stream and `/mcp` the merged streams of the
 * upstream sessions this session uses, plus list changes of the user's catalog.
 */
export async function sessionGet(x: Exchange, catalog: UserCatalog): Promise<Response> {
  const state = await session(x);
  if (state instanceof Response) return state;
  if (!(x.c.req.header("accept") ?? "").includes("text/event-stream"))
    return httpError(406, INVALID_REQUEST, "Not Acceptable: GET needs Accept: text/event-stream");
  // the session's end (DELETE) closes the stream, so its upstream session can be parked idle (pool.ts)
  // (the wake-up resolves this request's own promise; the abort runs in this request)
  let ended!: () => void;
  void new Promise<void>((r) => (ended = r)).then(() => x.abort.abort());
  const unregister = registerStream(state.sid, ended);
  let streamed = false;
  const streams = (done: Promise<void>) => {
    streamed = true;
    x.streams(done.finally(unregister));
  };
  try {
    return await streamOf(x, catalog, state, streams);
  } finally {
    if (!streamed) unregister();
  }
}

async function streamOf(
  x: Exchange,
  catalog: UserCatalog,
  state: SessionState,
  streams: (done: Promise<void>) => void,
): Promise<Response> {
  const ctx = contextOf(x, state, catalog, true);
  const deps: StreamDeps = { streams, abort: x.abort, resumable: { secret: x.env.SESSION_SECRET, sid: state.sid } };
  const lastEventId = x.c.req.header("last-event-id") ?? null;
  if (lastEventId?.startsWith("mcpgw-ev.")) {
    const ev = await openEventId(x.env.SESSION_SECRET, lastEventId);
    const server = ev && ev.sid === state.sid ? endpointServer(catalog, x.scope, ev.server) : undefined;
    if (!ev || !server)
      return httpError(404, INVALID_REQUEST, "Not Found: that event belongs to no stream of this session");
    try {
      const call = await streamCall(ctx, server);
      const relays = resumeUpstream(call, { server: server.id, usid: ev.usid, version: ev.uv }, ev.eid);
      const first = relays.next();
      await first; // fails fast when the upstream cannot resume
      return sseResponse(relayStream(ctx, call, prepend(first, relays)), deps, { keepAlive: true });
    } catch (err) {
      log.info("stream resumption refused", { server: server.id, message: String((err as Error)?.message ?? err) });
      return httpError(404, INVALID_REQUEST, "Not Found: the upstream can no longer resume that stream");
    }
  }
  if (isAggregate(catalog, x.scope)) return sseResponse(aggregateStream(ctx), deps, { keepAlive: true });
  const server = catalog.servers.find((s) => s.id === x.scope)!;
  if (upstreamKind(server) === "legacy-sse")
    return httpError(405, INVALID_REQUEST, "Method not allowed: the upstream offers no standalone stream", {
      allow: "POST, DELETE",
    });
  let call: UpstreamCall;
  try {
    call = await streamCall(ctx, server);
  } catch (err) {
    if (!(err instanceof UpstreamFailure)) throw err;
    return httpError(502, INVALID_REQUEST, `Bad Gateway: ${err.message}`);
  }
  const opened = await standaloneStream(call, lastEventId);
  if (!opened.relays) {
    return httpError(
      opened.status,
      INVALID_REQUEST,
      opened.status === 409
        ? "Conflict: a stream is already open for this session"
        : "Method not allowed: the upstream offers no standalone stream",
      { allow: "POST, DELETE" },
    );
  }
  return sseResponse(relayStream(ctx, call, opened.relays), deps, { keepAlive: true });
}

/** `first` (the pending first result of `gen`), then the rest of `gen`. */
async function* prepend<T>(first: Promise<IteratorResult<T>>, gen: AsyncGenerator<T>): AsyncGenerator<T> {
  const r = await first;
  if (r.done) return;
  yield r.value;
  yield* gen;
}

/** DELETE: ends the session here and on every replica, and its upstream sessions. */
export async function sessionDelete(x: Exchange, catalog: UserCatalog): Promise<Response> {
  const state = await session(x);
  if (state instanceof Response) return state;
  const poolSeconds = x.env.MCP_SESSION_POOL_SECONDS;
  // this isolate's streams of the session end before its upstream sessions may be parked
  closeStreams(state.sid);
  const busy = busyServers(
    state.sid,
    catalog.servers.map((s) => s.id),
  );
  const upstreams = await endSession(x.db, state.sid, x.identity.email, poolSeconds, busy);
  sessions.inc({ event: "ended" });
  wakeStreams(state.sid);
  const limits = limitsOf(x);
  const end = async (server: CatalogServer, sessions: Array<{ usid: string | null; version: string }>) => {
    if (!sessions.some((us) => us.usid)) return;
    const target = await upstreamTarget(x.catalogBinding, x.identity.email, server);
    await Promise.all(
      sessions.map((us) => (us.usid ? deleteUpstream(target, us.usid, us.version, limits) : undefined)),
    );
  };
  for (const us of upstreams) {
    const server = catalog.servers.find((s) => s.id === us.server);
    if (!server) continue;
    // parked: the pool keeps POOL_KEEP per key, and ends the rest (and expired ones) upstream
    if (us.parked && us.poolKey) x.later(trimParked(x.db, us.poolKey, poolSeconds).then((old) => end(server, old)));
    else x.later(end(server, [us]));
  }
  return new Response(null, { status: 204 });
}
