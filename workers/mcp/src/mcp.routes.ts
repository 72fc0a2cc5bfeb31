/**
 * MCP Streamable HTTP at `/mcp` (every server the caller may use, names `<server>__<name>`) and
 * `/mcp/<server>` (one server, upstream names), for protocol revisions 2025-03-26, 2025-06-18 and
 * 2025-11-25: POST (answered as JSON or SSE as the client accepts), GET (the upstream's stream of
 * server-initiated messages on `/mcp/<server>`; 405 on `/mcp`), DELETE (ends the session).
 * Session state travels in the encrypted `Mcp-Session-Id`; see session.token.ts.
 */
import type { Context, Hono } from "hono";
import { readEnv } from "../../../shared/env";
import type { Identity } from "../../../shared/identity";
import { log } from "../../../shared/log";
import {
  classify,
  errorResponse,
  INTERNAL_ERROR,
  INVALID_REQUEST,
  PARSE_ERROR,
  resultResponse,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../../../shared/mcp/jsonrpc";
import { sseComment, sseMessage } from "../../../shared/mcp/sse";
import { allowsBatches, isSupportedVersion, negotiateVersion } from "../../../shared/mcp/versions";
import { serverOfName } from "../../../shared/naming";
import { CatalogUnavailable, catalogFetcher, fetchUserCatalog, fetchUserServer, type UserCatalog } from "./catalog.client";
import { mcpDb, type McpDb } from "./db";
import { McpEnv } from "./env";
import { Gateway, wakeStreams } from "./gateway";
import { initializeResult } from "./initialize";
import { LEGACY_VERSION_MARK, postLegacy } from "./legacy-sse.client";
import { openRelayedId, openSession, sealSession, type SessionState } from "./session.token";
import { postToUpstream, upstreamFetch, type UpstreamTarget } from "./upstream.client";
import { upstreamTarget } from "./upstream.credentials";
import { endSession, isSessionEnded, purgeOldSessions } from "./upstream-sessions.repo";

type Env = { Bindings: Record<string, unknown>; Variables: { identity: Identity } };
type Ctx = Context<Env>;

const SERVER_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
const SESSION_HEADER = "Mcp-Session-Id";

/** A JSON-RPC error as an HTTP answer (id null: it concerns the HTTP request, not one message). */
function httpError(status: number, code: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(errorResponse(null, code, message)), { status, headers: { "content-type": "application/json", ...headers } });
}

/** Registers the MCP endpoints on the worker's app. */
export function registerMcpRoutes(app: Hono<Env>): void {
  for (const path of ["/mcp", "/mcp/:server"]) {
    app.all(path, (c) => handle(c));
  }
}

function originAllowed(c: Ctx, env: McpEnv): boolean {
  const origin = c.req.header("origin");
  if (!origin) return true;
  const o = origin.replace(/\/+$/, "");
  if (env.PUBLIC_URL && new URL(env.PUBLIC_URL).origin === o) return true;
  return env.ALLOWED_ORIGINS.includes(o);
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * DNS-rebinding guard: with PUBLIC_URL set, the Host must be its host, one of ALLOWED_HOSTS, or a
 * loopback name (which a rebinding attacker's page cannot send: it would carry its own domain).
 */
function hostAllowed(c: Ctx, env: McpEnv): boolean {
  if (!env.PUBLIC_URL) return true;
  const url = new URL(c.req.url);
  const host = url.host.toLowerCase();
  const pub = new URL(env.PUBLIC_URL);
  return host === pub.host.toLowerCase() || LOOPBACK.has(url.hostname.toLowerCase()) || env.ALLOWED_HOSTS.includes(host) || env.ALLOWED_HOSTS.includes(url.hostname.toLowerCase());
}

async function handle(c: Ctx): Promise<Response> {
  const env = readEnv(McpEnv, c.env);
  if (!originAllowed(c, env)) {
    log.warn("request with a foreign Origin refused", { origin: c.req.header("origin") });
    return httpError(403, INVALID_REQUEST, "Forbidden: Origin not allowed");
  }
  if (!hostAllowed(c, env)) {
    log.warn("request for a foreign Host refused", { host: new URL(c.req.url).host });
    return httpError(403, INVALID_REQUEST, "Forbidden: Host not allowed");
  }
  const scope = c.req.param("server") ?? "*";
  if (scope !== "*" && !SERVER_ID.test(scope)) return httpError(403, INVALID_REQUEST, `Forbidden: you may not use server ${scope}`);
  const method = c.req.method;
  if (method !== "POST" && method !== "GET" && method !== "DELETE") {
    return httpError(405, INVALID_REQUEST, "Method not allowed", { allow: "GET, POST, DELETE" });
  }

  const identity = c.get("identity");
  const db = mcpDb(c.env);
  const finishers: Promise<unknown>[] = [];
  const later = (p: Promise<unknown>) => void finishers.push(p.catch(() => {}));
  let streaming = false;
  const finish = async () => {
    while (finishers.length) await Promise.all(finishers.splice(0));
  };
  try {
    const response = await route(c, env, scope, identity, db, later, (done) => {
      streaming = true;
      c.executionCtx.waitUntil(done.then(finish));
    });
    return response;
  } finally {
    if (!streaming) c.executionCtx.waitUntil(finish());
  }
}

interface Exchange {
  env: McpEnv;
  scope: string;
  identity: Identity;
  db: McpDb;
  later: (p: Promise<unknown>) => void;
  /** Called when the answer streams: cleanup waits for `done`. */
  streams: (done: Promise<void>) => void;
  /** Aborted when the client goes away (request signal) or stops reading the answer's stream. */
  abort: AbortController;
}

async function route(c: Ctx, env: McpEnv, scope: string, identity: Identity, db: McpDb, later: Exchange["later"], streams: Exchange["streams"]): Promise<Response> {
  const abort = new AbortController();
  c.req.raw.signal?.addEventListener("abort", () => abort.abort());
  const x: Exchange = { env, scope, identity, db, later, streams, abort };
  const catalogBinding = catalogFetcher(c.env);

  // The catalog decides first whether the endpoint exists for this caller at all. On /mcp a
  // POST loads it once it knows what the message needs (one server's part for a call).
  const ttl = env.MCP_CATALOG_TTL_MS;
  const load = (server?: string) => (server ? fetchUserServer(catalogBinding, identity.email, server, ttl) : fetchUserCatalog(catalogBinding, identity.email, ttl));
  let catalog: UserCatalog | null = null;
  try {
    if (scope !== "*" || c.req.method !== "POST") catalog = await load(scope === "*" ? undefined : scope);
    if (catalog && scope !== "*" && !catalog.servers.some((s) => s.id === scope)) {
      return httpError(403, INVALID_REQUEST, `Forbidden: you may not use server ${scope}`);
    }
    if (c.req.method === "POST") return await post(c, x, catalog, load, catalogBinding);
  } catch (err) {
    if (!(err instanceof CatalogUnavailable)) throw err;
    log.error("catalog unavailable", { message: err.message });
    return httpError(503, INTERNAL_ERROR, "The gateway's catalog is unavailable; try again shortly");
  }
  if (!catalog) throw new Error("unreachable: catalog not loaded");

  const state = await session(c, x);
  if (state instanceof Response) return state;
  const gw = new Gateway({ env, catalogBinding, identity, state, catalog, db, later, signal: x.abort.signal });

  if (c.req.method === "DELETE") {
    const upstreams = await endSession(db, state.sid, identity.email);
    wakeStreams(state.sid);
    for (const us of upstreams) {
      const server = catalog.servers.find((s) => s.id === us.server);
      if (server && us.usid) later(upstreamTarget(catalogBinding, identity.email, server).then((target) => deleteUpstream(target, us.usid!, us.version, env.UPSTREAM_TIMEOUT_MS)));
    }
    return new Response(null, { status: 204 });
  }

  // GET: the standalone stream of server-initiated messages
  if (!(c.req.header("accept") ?? "").includes("text/event-stream")) return httpError(406, INVALID_REQUEST, "Not Acceptable: GET needs Accept: text/event-stream");
  // a long-lived stream holds no database connection (queries go through the pool)
  if (scope === "*") {
    return sseResponse(gw.aggregateStream(), x, { keepAlive: true });
  }
  const server = gw.visibleServers()[0]!;
  const opened = await gw.openStandaloneStream(server, c.req.header("last-event-id") ?? null);
  if (!opened.messages) {
    return httpError(opened.status, INVALID_REQUEST, opened.status === 409 ? "Conflict: a stream is already open for this session" : "Method not allowed: the upstream offers no standalone stream", { allow: "POST, DELETE" });
  }
  return sseResponse(opened.messages, x, { keepAlive: true });
}

async function deleteUpstream(server: UpstreamTarget, usid: string, version: string, timeoutMs: number) {
  try {
    const ex = await upstreamFetch(server, { method: "DELETE", usid, version }, timeoutMs);
    await ex.res.body?.cancel().catch(() => {});
  } catch {
    // the upstream forgets idle sessions on its own
  }
}

/** Validates the session header of a non-initialize request: 400 missing, 404 unknown/ended/foreign. */
async function session(c: Ctx, x: Exchange): Promise<SessionState | Response> {
  const token = c.req.header(SESSION_HEADER);
  if (!token) return httpError(400, INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required");
  const state = await openSession(x.env.SESSION_SECRET, token);
  const expired = state !== null && Date.now() / 1000 - state.iat > x.env.MCP_SESSION_MAX_AGE_SECONDS;
  if (!state || expired || state.email !== x.identity.email.toLowerCase() || state.scope !== x.scope) {
    return httpError(404, INVALID_REQUEST, "Session not found");
  }
  const version = c.req.header("mcp-protocol-version");
  if (version !== undefined && (!isSupportedVersion(version) || version !== state.v)) {
    return httpError(400, INVALID_REQUEST, `Bad Request: unsupported MCP-Protocol-Version ${version} (this session uses ${state.v})`);
  }
  if (await isSessionEnded(x.db, state.sid, state.iat)) return httpError(404, INVALID_REQUEST, "Session not found");
  return state;
}

function accepts(c: Ctx): { json: boolean; sse: boolean } {
  const a = (c.req.header("accept") ?? "").toLowerCase();
  if (!a || a.includes("*/*")) return { json: true, sse: true };
  return { json: a.includes("application/json") || a.includes("application/*"), sse: a.includes("text/event-stream") };
}

/** The one server a lone aggregate-endpoint message names (a call or get by `<server>__<name>`), if any. */
function namedServer(items: ReturnType<typeof classify>[]): string | null | undefined {
  if (items.length !== 1) return undefined;
  const m = items[0]!;
  if (m.kind !== "request" || (m.message.method !== "tools/call" && m.message.method !== "prompts/get")) return undefined;
  const name = m.message.params?.name;
  if (typeof name !== "string") return undefined;
  const server = serverOfName(name);
  return server && SERVER_ID.test(server) ? server : null;
}

async function post(c: Ctx, x: Exchange, preloaded: UserCatalog | null, load: (server?: string) => Promise<UserCatalog>, catalogBinding: Fetcher): Promise<Response> {
  const accept = accepts(c);
  if (!accept.json && !accept.sse) return httpError(406, INVALID_REQUEST, "Not Acceptable: accept application/json and/or text/event-stream");
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    return httpError(400, PARSE_ERROR, "Parse error: the body is not JSON");
  }
  const batch = Array.isArray(body);
  const items = batch ? (body as unknown[]) : [body];
  if (batch && items.length === 0) return httpError(400, INVALID_REQUEST, "Invalid Request: empty batch");
  const classified = items.map(classify);

  // initialize: opens a session; never part of a batch
  const init = classified.find((m) => m.kind === "request" && m.message.method === "initialize");
  if (init && init.kind === "request") {
    if (batch) return httpError(400, INVALID_REQUEST, "Invalid Request: initialize must not be part of a batch");
    return initialize(x, preloaded ?? (await load()), init.message);
  }

  const state = await session(c, x);
  if (state instanceof Response) return state;
  // a call by prefixed name needs only that server's part of the catalog (a name with no
  // server part resolves to nothing in any catalog)
  let catalog = preloaded;
  if (!catalog) {
    const only = namedServer(classified);
    catalog = only === null ? { email: x.identity.email, known: true, isAdmin: false, groups: [], servers: [] } : await load(only);
  }
  if (batch && !allowsBatches(state.v as never)) return httpError(400, INVALID_REQUEST, `Invalid Request: JSON-RPC batches are not part of protocol ${state.v}`);

  const requestsIn = classified.filter((m) => m.kind === "request").map((m) => (m as { message: JsonRpcRequest }).message);
  const asSse = accept.sse && (!accept.json || needsStream(requestsIn));
  // One forwarded request from a client that takes both: SSE unless the upstream itself answers
  // JSON (then only the response can come; progress, logging and server-to-client requests
  // travel on SSE alone), which spares re-streaming it. Decided once the upstream's headers are in.
  let upstreamAnswered: ((json: boolean) => void) | undefined;
  const upstreamJson = asSse && accept.json && !batch && requestsIn.length === 1 ? new Promise<boolean>((r) => (upstreamAnswered = r)) : null;
  const gw = new Gateway({
    env: x.env,
    catalogBinding,
    identity: x.identity,
    state,
    catalog,
    db: x.db,
    later: x.later,
    signal: x.abort.signal,
    canRelay: asSse,
    ...(upstreamAnswered ? { onUpstreamAnswer: upstreamAnswered } : {}),
  });
  const immediate: JsonRpcResponse[] = [];
  const requests: JsonRpcRequest[] = [];
  let refused = 0;
  for (const m of classified) {
    if (m.kind === "invalid") immediate.push(errorResponse(m.id, INVALID_REQUEST, `Invalid Request: ${m.reason}`));
    else if (m.kind === "request") requests.push(m.message);
    else if (m.kind === "notification") x.later(gw.notifyUpstreams(m.message as JsonRpcNotification));
    else if (!(await relayResponse(x, state, catalog, m.message, catalogBinding))) refused++;
  }
  if (requests.length === 0 && immediate.length === 0) {
    if (refused) return httpError(400, INVALID_REQUEST, "Invalid Request: a response names a request this session never received");
    return new Response(null, { status: 202 });
  }
  if (requests.length === 0) return jsonAnswer(batch ? immediate : immediate[0]!);

  const streams = requests.map((r) => gw.handle(r));
  const merged = merge(streams, immediate);
  if (upstreamJson && requests.length === 1 && immediate.length === 0) {
    const first = merged.next();
    // the first message before any upstream headers: an answer the gateway gave itself
    const json = await Promise.race([upstreamJson, first.then(() => true, () => false)]);
    if (!json) return sseResponse(replay([], first, merged), x, { keepAlive: false });
    const got = await responsesOnly(first, merged);
    if (got.done) return jsonAnswer(got.messages[0]!);
    return sseResponse(replay(got.messages, got.next, merged), x, { keepAlive: false });
  }
  // Answer as SSE when the client takes it (notifications and relayed requests can flow);
  // JSON otherwise, keeping only the responses.
  if (asSse) return sseResponse(merged, x, { keepAlive: false });
  const responses: JsonRpcResponse[] = [];
  for await (const m of merged) if (!("method" in m)) responses.push(m as JsonRpcResponse);
  return jsonAnswer(batch ? responses : responses[0]!);
}

/**
 * Reads `gen` (whose next result is `first`) while it yields responses only. `done`: it ended
 * that way, `messages` is everything; else `messages` are the responses read before `next`, the
 * pending result (a notification, a request, or a failure) to go on with.
 */
async function responsesOnly(
  first: Promise<IteratorResult<JsonRpcMessage>>,
  gen: AsyncGenerator<JsonRpcMessage>,
): Promise<{ done: true; messages: JsonRpcMessage[] } | { done: false; messages: JsonRpcMessage[]; next: Promise<IteratorResult<JsonRpcMessage>> }> {
  const messages: JsonRpcMessage[] = [];
  let next = first;
  for (;;) {
    let r: IteratorResult<JsonRpcMessage>;
    try {
      r = await next;
    } catch {
      return { done: false, messages, next };
    }
    if (r.done) return messages.length === 1 ? { done: true, messages } : { done: false, messages, next: Promise.resolve(r) };
    if ("method" in r.value) return { done: false, messages, next: Promise.resolve(r) };
    messages.push(r.value);
    next = gen.next();
  }
}

/** `before`, then the pending result `next`, then the rest of `gen`. */
async function* replay(before: JsonRpcMessage[], next: Promise<IteratorResult<JsonRpcMessage>>, gen: AsyncGenerator<JsonRpcMessage>): AsyncGenerator<JsonRpcMessage> {
  try {
    yield* before;
    const r = await next;
    if (r.done) return;
    yield r.value;
    yield* gen;
  } finally {
    // ended early (the client stopped reading): end the source too
    void gen.return(undefined).catch(() => {});
  }
}

/** Methods answered from the catalog never stream; everything forwarded may. */
function needsStream(requests: JsonRpcRequest[]): boolean {
  const local = new Set(["ping", "tools/list", "prompts/list", "resources/list", "resources/templates/list"]);
  return requests.some((r) => !local.has(r.method));
}

function jsonAnswer(payload: unknown): Response {
  return new Response(JSON.stringify(payload), { status: 200, headers: { "content-type": "application/json" } });
}

async function initialize(x: Exchange, catalog: UserCatalog, req: JsonRpcRequest): Promise<Response> {
  const p = req.params ?? {};
  const version = negotiateVersion(p.protocolVersion);
  const caps = p.capabilities && typeof p.capabilities === "object" && !Array.isArray(p.capabilities) ? (p.capabilities as Record<string, unknown>) : {};
  const info = p.clientInfo && typeof p.clientInfo === "object" && !Array.isArray(p.clientInfo) ? (p.clientInfo as Record<string, unknown>) : undefined;
  const state: SessionState = {
    sid: crypto.randomUUID(),
    email: x.identity.email.toLowerCase(),
    scope: x.scope,
    v: version,
    caps,
    ...(info ? { info: { name: String(info.name ?? "client").slice(0, 100), version: String(info.version ?? "0").slice(0, 50) } } : {}),
    iat: Math.floor(Date.now() / 1000),
  };
  const token = await sealSession(x.env.SESSION_SECRET, state);
  const result = initializeResult(catalog, x.scope, version);
  if (catalog.servers.length === 0) {
    log.warn("user mapped to no MCP server", { email: x.identity.email, known: catalog.known, groups: catalog.groups });
  }
  // now and then, forget sessions past their age (no timer needed, any replica does it)
  if (Math.random() < 0.01) x.later(purgeOldSessions(x.db, x.env.MCP_SESSION_MAX_AGE_SECONDS));
  log.info("mcp session opened", { email: x.identity.email, scope: x.scope, version, servers: catalog.servers.length });
  return new Response(JSON.stringify(resultResponse(req.id, result)), {
    status: 200,
    headers: { "content-type": "application/json", [SESSION_HEADER]: token },
  });
}

/** A client's answer to a relayed server-to-client request: back to the upstream it came from. */
async function relayResponse(x: Exchange, state: SessionState, catalog: UserCatalog, m: JsonRpcResponse, catalogBinding: Fetcher): Promise<boolean> {
  const r = await openRelayedId(x.env.SESSION_SECRET, String(m.id));
  if (!r || r.sid !== state.sid || r.email !== x.identity.email.toLowerCase()) {
    log.warn("client response with an unknown or foreign id refused", { email: x.identity.email });
    return false;
  }
  const server = catalog.servers.find((s) => s.id === r.server && (x.scope === "*" || s.id === x.scope));
  if (!server) return false;
  const answer = { ...m, id: r.id };
  const target = upstreamTarget(catalogBinding, x.identity.email, server);
  x.later(target.then((t) => (r.uv === LEGACY_VERSION_MARK && r.usid ? postLegacy(t, r.usid, answer, x.env.UPSTREAM_TIMEOUT_MS) : postToUpstream(t, answer, r.usid, r.uv, x.env.UPSTREAM_TIMEOUT_MS))));
  return true;
}

/** Interleaves several message streams as their messages arrive (after `first`). */
async function* merge(gens: AsyncGenerator<JsonRpcMessage>[], first: JsonRpcMessage[] = []): AsyncGenerator<JsonRpcMessage> {
  for (const m of first) yield m;
  if (gens.length === 1) {
    yield* gens[0]!;
    return;
  }
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<JsonRpcMessage> }>>();
  gens.forEach((g, i) => pending.set(i, g.next().then((r) => ({ i, r }))));
  try {
    while (pending.size) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
        continue;
      }
      pending.set(i, gens[i]!.next().then((r) => ({ i, r })));
      yield r.value;
    }
  } finally {
    for (const g of gens) void g.return(undefined).catch(() => {});
  }
}

/** Streams messages as SSE without buffering; cleanup (audit, Postgres) runs when it ends. */
function sseResponse(messages: AsyncGenerator<JsonRpcMessage>, x: Exchange, opts: { keepAlive: boolean }): Response {
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  x.streams(done);
  let ping: ReturnType<typeof setInterval> | undefined;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      if (opts.keepAlive) {
        controller.enqueue(sseComment("stream open"));
        ping = setInterval(() => {
          try {
            controller.enqueue(sseComment());
          } catch {
            // closed
          }
        }, 15_000);
      }
    },
    async pull(controller) {
      try {
        const { value, done: end } = await messages.next();
        if (end) {
          controller.close();
          stop();
          return;
        }
        controller.enqueue(sseMessage(value));
      } catch (err) {
        log.error("stream failed", { message: String((err as Error)?.message ?? err) });
        controller.close();
        stop();
      }
    },
    async cancel() {
      // the client stopped reading: end upstream exchanges now (a pending read may never resolve)
      x.abort.abort();
      stop();
      await messages.return(undefined).catch(() => {});
    },
  });
  function stop() {
    if (ping) clearInterval(ping);
    resolveDone();
  }
  return new Response(stream, { status: 200, headers: { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" } });
}
