/**
 * The bridge between the client's era and the upstream's: forwards one request to its upstream
 * adapter and turns what comes back into what this client can take, keeping every feature.
 *
 * Session-era client:
 * - a session-era upstream's server-to-client request goes to the client (id sealed with where the
 *   answer goes) when the client declared the capability and reads an SSE answer; else it is
 *   refused to the upstream, never sent on;
 * - a modern upstream's `input_required` (MRTR) becomes real server-to-client requests; the
 *   client's answers (separate POSTs, any replica) come back through a mailbox and drive the
 *   retry with `inputResponses` + `requestState`; a client that cannot answer gets a tool error
 *   saying what was asked (a URL elicitation as a link), never a hang;
 * - the session's log level (logging/setLevel) becomes a modern upstream's per-request logLevel.
 * Modern client:
 * - a session-era upstream's server-to-client request becomes an `input_required` result; the
 *   upstream exchange is parked (it keeps running, its later messages go to a mailbox) and the
 *   gateway's `requestState` - sealed, bound to the user, the request and a TTL, usable once -
 *   names it; the retry answers the upstream's pending request and continues the exchange;
 * - a modern upstream's `input_required` passes through with its state sealed the same way (the
 *   upstream sees only the gateway's credential, so it cannot tell users apart itself);
 * - only request-scoped notifications reach a request's stream (progress; log messages at or
 *   above the request's logLevel, none without one).
 * Task ids (both eras' tasks) are sealed to the user and server, so only their owner reaches them.
 * A per-user server the user has not connected answers with the connect prompt ({@link connectPrompt}).
 */
import { canonicalJson } from "../../../../shared/canonical";
import { sha256Hex } from "../../../../shared/crypto";
import { log } from "../../../../shared/log";
import {
  rpcError,
  INVALID_PARAMS,
  INVALID_REQUEST,
  isResponse,
  METHOD_NOT_FOUND,
  MISSING_CAPABILITY,
  resultResponse,
  UPSTREAM_ERROR,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../../../../shared/mcp/jsonrpc";
import { requestRefresh, type CatalogServer } from "../catalog.client";
import type { ClientView, RequestContext, UpstreamSet } from "../dispatch/context";
import { openRequestState, sealRelayedId, sealRequestState, sealTaskId, type RequestState } from "../tokens";
import { legacySseUpstream, postLegacy } from "../upstream/legacy-sse.upstream";
import { modernUpstream } from "../upstream/modern.upstream";
import { postToUpstream, sessionUpstream } from "../upstream/session.upstream";
import { upstreamKind, type Relay, type ReplyTo, type Upstream, type UpstreamCall } from "../upstream/upstream";
import { NotConnectedError, upstreamTarget } from "../upstream/credentials";
import { checkPin, pinned, pinOf, underReview } from "./pin";
import { connectUrl } from "../../../../shared/credentials";
import { UpstreamFailure, type ExchangeLimits, type UpstreamTarget } from "../upstream/http";
import { acquireSlot } from "./concurrency";
import { claim, holdBox, newBox, post, read, releaseBox } from "./mailbox";

/** A priming event or retry hint for a session-era client's SSE answer (resumable streams). */
export interface StreamMarker {
  marker: true;
  eventId?: string;
  retry?: number;
  at?: ReplyTo;
}

/** What the bridge hands the downstream: messages, and stream markers. */
export type Outgoing = JsonRpcMessage | StreamMarker;

/** The upstream event a relayed message came with, for a resumable event id (session-era clients). */
export interface EventRef {
  at: ReplyTo;
  eid: string;
}

/** Side channel: relayed messages that came with an upstream event id. */
export const eventRefs = new WeakMap<object, EventRef>();

/** Server-to-client requests and the client capability each needs. */
export const NEEDS_CAPABILITY: Record<string, string> = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots",
};

/** Rounds of `input_required` one request may go through before the gateway gives up. */
const MAX_ROUNDS = 10;

const LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

const ADAPTERS: Record<ReturnType<typeof upstreamKind>, Upstream> = {
  modern: modernUpstream,
  session: sessionUpstream,
  "legacy-sse": legacySseUpstream,
};

/** The real upstreams: the adapter for a server's era and transport, answers posted into its session. */
export const REAL_UPSTREAMS: UpstreamSet = {
  of: (server) => ADAPTERS[upstreamKind(server)],
  answer: (target, reply, message, limits) => answerUpstream(target, reply, message, limits),
};

const upstreamsOf = (ctx: RequestContext): UpstreamSet => ctx.upstreams ?? REAL_UPSTREAMS;

/** Whether a client declared a capability (the tasks extension counts under `extensions`). */
function declared(client: ClientView, cap: string): boolean {
  return client.caps[cap] !== undefined;
}

function isInputRequired(m: JsonRpcResponse): boolean {
  return !m.error && m.result?.resultType === "input_required";
}

/** A digest of a request's salient parameters (what an MRTR retry must repeat). */
export async function requestDigest(req: JsonRpcRequest): Promise<string> {
  const { _meta: _m, inputResponses: _i, requestState: _s, ...rest } = req.params ?? {};
  return sha256Hex(canonicalJson({ method: req.method, params: rest }));
}

/** Answers a server-to-client request in the upstream session it came from. */
export async function answerUpstream(
  server: UpstreamTarget,
  reply: ReplyTo,
  message: JsonRpcResponse,
  limits: ExchangeLimits,
): Promise<number> {
  return reply.via === "legacy-sse" && reply.usid
    ? postLegacy(server, reply.usid, message, limits.timeoutMs)
    : postToUpstream(server, message, reply.usid, reply.uv, limits);
}

/** The session's log level, cached per isolate for a short while (logging/setLevel updates it). */
const levelCache = new Map<string, { level: string | null; at: number }>();
async function sessionLevel(ctx: RequestContext): Promise<string | undefined> {
  const sid = ctx.session?.sid;
  if (!sid) return undefined;
  const hit = levelCache.get(sid);
  if (hit && Date.now() - hit.at < 1000) return hit.level ?? undefined;
  const level = await ctx.db.run("sessionLevel", sid).catch(() => null);
  if (levelCache.size > 10_000) levelCache.clear();
  levelCache.set(sid, { level, at: Date.now() });
  return level ?? undefined;
}

/** Forgets the cached level of a session (after its logging/setLevel). */
export function forgetSessionLevel(sid: string): void {
  levelCache.delete(sid);
}

/** The limits of one exchange from the worker's settings (a new object each time: a parked exchange raises its own). */
export function limitsOf(ctx: Pick<RequestContext, "env">): ExchangeLimits {
  return { timeoutMs: ctx.env.UPSTREAM_TIMEOUT_MS, maxMessageBytes: ctx.env.MAX_UPSTREAM_MESSAGE_BYTES };
}

/**
 * An UpstreamCall to `server` for this request: the target with the server's secret headers
 * (fetched from the catalog when the server has any; throws UpstreamFailure when they cannot be).
 */
export async function upstreamCallFor(
  ctx: RequestContext,
  server: CatalogServer,
  opts: { signal?: AbortSignal; sid?: string; limits?: ExchangeLimits; client?: ClientView; refresh?: boolean } = {},
): Promise<UpstreamCall> {
  const sid = opts.sid ?? ctx.session?.sid;
  return {
    server,
    target: await upstreamTarget(ctx.catalogBinding, ctx.identity.email, server, { refresh: opts.refresh }),
    client: opts.client ?? ctx.client,
    identity: ctx.identity,
    env: ctx.env,
    db: ctx.db,
    limits: opts.limits ?? limitsOf(ctx),
    signal: opts.signal ?? ctx.signal,
    later: ctx.later,
    ...(sid ? { sid } : {}),
    ...(ctx.onUpstreamAnswer ? { onAnswer: ctx.onUpstreamAnswer } : {}),
    failed: () => ctx.later(requestRefresh(ctx.catalogBinding, server.id)),
  };
}

/** What a client's request may carry on to the upstream: MRTR fields only from a modern client, via the gateway's state. */
function upstreamRequest(ctx: RequestContext, server: CatalogServer, req: JsonRpcRequest): JsonRpcRequest {
  const { inputResponses, requestState: _s, task, ...params } = req.params ?? {};
  const toModern = upstreamKind(server) === "modern";
  // a modern client may answer an input_required that carried no state with inputResponses alone
  if (toModern && ctx.client.era === "modern" && inputResponses !== undefined && req.params?.requestState === undefined)
    params.inputResponses = inputResponses;
  // 2025-11-25 task augmentation only between session-era ends; modern tasks negotiate by capability
  const legacyTask = task !== undefined && !toModern && ctx.client.era === "legacy" ? { task } : {};
  if (!toModern && params._meta && typeof params._meta === "object") {
    // the modern per-request fields mean nothing to a session-era upstream (its session carries them)
    const meta = Object.fromEntries(
      Object.entries(params._meta as Record<string, unknown>).filter(
        ([k]) => !/^io\.modelcontextprotocol\/(protocolVersion|clientCapabilities|clientInfo|logLevel)$/.test(k),
      ),
    );
    if (Object.keys(meta).length) params._meta = meta;
    else delete params._meta;
  }
  return { ...req, params: { ...params, ...legacyTask } };
}

/** A detachable link from the client's signal: a parked exchange must outlive the client's request. */
function linkedSignal(signal: AbortSignal): { signal: AbortSignal; detach: () => void; abort: () => void } {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  if (signal.aborted) ctl.abort();
  else signal.addEventListener("abort", onAbort);
  return { signal: ctl.signal, detach: () => signal.removeEventListener("abort", onAbort), abort: () => ctl.abort() };
}

/**
 * Forwards `req` (names already mapped to the upstream's) to `server` and yields what the client
 * gets: relayed notifications and requests as they arrive, the response (id: the client's) last.
 */
export async function* forward(
  ctx: RequestContext,
  server: CatalogServer,
  req: JsonRpcRequest,
): AsyncGenerator<Outgoing> {
  const release = acquireSlot(ctx.identity.email.toLowerCase(), ctx.env.MAX_CONCURRENT_CALLS_PER_USER);
  if (!release) {
    log.warn("upstream call refused: too many in flight for the user", { server: server.id, method: req.method });
    return yield rpcError(
      req.id,
      UPSTREAM_ERROR,
      `Too many concurrent upstream calls: at most ${ctx.env.MAX_CONCURRENT_CALLS_PER_USER} per user at a time (MAX_CONCURRENT_CALLS_PER_USER); retry when one ends`,
    );
  }
  try {
    yield* forwardHeld(ctx, server, req);
  } finally {
    release();
  }
}

/**
 * Requests of session-era clients in flight to modern upstreams in this isolate, by session and
 * the client's request id: a session-era client cancels with notifications/cancelled, a modern
 * upstream learns of it only from its request's stream closing.
 */
const cancellable = new Map<string, { cancelled: boolean }>();
/** How often a request watches whether another request cancelled it (ms). */
const CANCEL_WATCH_MS = 100;

/**
 * A session-era client's notifications/cancelled: marks its request to a modern upstream
 * cancelled, if it runs here. The request itself ends its upstream exchange (its own timer sees
 * the mark): workerd lets only the request that started a fetch cancel it.
 */
export function cancelInFlight(sid: string, requestId: unknown): boolean {
  const mark = cancellable.get(`${sid}\u0000${String(requestId)}`);
  if (mark) mark.cancelled = true;
  return mark !== undefined;
}

async function* forwardHeld(ctx: RequestContext, server: CatalogServer, req: JsonRpcRequest): AsyncGenerator<Outgoing> {
  const modern = ctx.client.era === "modern";
  const link = linkedSignal(ctx.signal);
  const cancelKey =
    !modern && ctx.session && upstreamKind(server) === "modern" ? `${ctx.session.sid}\u0000${String(req.id)}` : null;
  let watch: ReturnType<typeof setInterval> | undefined;
  if (cancelKey) {
    const mark = { cancelled: false };
    cancellable.set(cancelKey, mark);
    watch = setInterval(() => {
      if (mark.cancelled) link.abort();
    }, CANCEL_WATCH_MS);
  }
  try {
    yield* forwardLinked(ctx, server, req, link);
  } finally {
    if (watch) clearInterval(watch);
    if (cancelKey) cancellable.delete(cancelKey);
  }
}

/**
 * A per-user server (shared/credentials.ts): the user's own token goes upstream. When the
 * upstream answers 401, the token is refreshed once (the catalog does it) and the request sent
 * again; when that fails too, or the user never connected, the answer is the connect prompt.
 */
async function* forwardLinked(
  ctx: RequestContext,
  server: CatalogServer,
  req: JsonRpcRequest,
  link: ReturnType<typeof linkedSignal>,
): AsyncGenerator<Outgoing> {
  if (!server.credentials?.perUser) return yield* forwardOnce(ctx, server, req, link, {});
  for (const refresh of [false, true]) {
    const seen = { unauthorized: false };
    for await (const m of forwardOnce(ctx, server, req, link, { refresh, seen })) {
      // the upstream's 401 answer is replaced: by the retry, or by the connect prompt
      if (seen.unauthorized && "jsonrpc" in m && isResponse(m) && m.id === req.id) break;
      yield m;
    }
    if (!seen.unauthorized) return;
    log.info("upstream refused the user's token", { server: server.id, refreshed: refresh });
  }
  yield await connectPrompt(ctx, server, req, new NotConnectedError(server.id, "refused by the upstream"));
}

/** JSON-RPC error code of URLElicitationRequiredError (MCP 2025-11-25). */
const URL_ELICITATION_REQUIRED = -32042;

/** Key of the connect elicitation in an `input_required` result's `inputRequests`. */
const CONNECT_INPUT = "connect";

/**
 * What a user without a usable connection gets:
 * - a 2026-07-28 client that declared URL-mode elicitation (`elicitation.url` in this request's
 *   clientCapabilities): an `input_required` result (MRTR) whose one input request is a URL-mode
 *   elicitation to the connect URL, with a sealed `requestState` (kind `connect`, bound to the
 *   user, the endpoint and the request); its retry after connecting goes through as that user,
 *   a declined or cancelled one gets the tool error below;
 * - a session-era client that declared URL-mode elicitation: a URLElicitationRequired error
 *   (-32042, 2025-11-25) naming the connect URL;
 * - otherwise, for a tool call, a tool result with `isError: true` whose text gives the link
 *   (what chat clients show the user); for anything else, a JSON-RPC error with the link in its
 *   message and `data.connect`.
 */
export async function connectPrompt(
  ctx: RequestContext,
  server: CatalogServer,
  req: JsonRpcRequest,
  err: NotConnectedError,
): Promise<JsonRpcResponse> {
  const url = connectUrl(ctx.env.PUBLIC_URL, server.id);
  const text = `${server.id} acts as you: ${err.message}. Open ${url} to connect, then try again.`;
  const elicitation = ctx.client.caps.elicitation as Record<string, unknown> | undefined;
  const takesUrl = !!elicitation && typeof elicitation === "object" && elicitation.url !== undefined;
  const message = `Connect your account for ${server.id}`;
  if (takesUrl && ctx.client.era === "modern") {
    const answer = (req.params?.inputResponses as Record<string, unknown> | undefined)?.[CONNECT_INPUT] as
      { action?: unknown } | undefined;
    const declined = answer !== undefined && answer?.action !== "accept" && (await connectStateOk(ctx, server, req));
    if (!declined) {
      const state = await sealRequestState(ctx.env.SESSION_SECRET, {
        email: ctx.identity.email.toLowerCase(),
        scope: ctx.scope,
        method: req.method,
        digest: await requestDigest(upstreamRequest(ctx, server, req)),
        exp: Math.floor(Date.now() / 1000) + ctx.env.MRTR_STATE_TTL_SECONDS,
        server: server.id,
        src: { k: "connect" },
      });
      const ask = {
        method: "elicitation/create",
        params: { mode: "url", elicitationId: crypto.randomUUID(), url, message },
      };
      return resultResponse(req.id, {
        resultType: "input_required",
        inputRequests: { [CONNECT_INPUT]: ask },
        requestState: state,
      });
    }
  } else if (takesUrl) {
    return rpcError(req.id, URL_ELICITATION_REQUIRED, text, {
      elicitations: [{ mode: "url", elicitationId: crypto.randomUUID(), url, message }],
    });
  }
  if (req.method === "tools/call")
    return resultResponse(req.id, {
      content: [{ type: "text", text }],
      isError: true,
      _meta: { "io.github.mcp-gateway/connect": url },
    });
  return rpcError(req.id, UPSTREAM_ERROR, text, { connect: url });
}

/** Whether a modern request carries a valid `requestState` the gateway issued to this user, for this request. */
async function openOwnState(
  ctx: RequestContext,
  server: CatalogServer,
  req: JsonRpcRequest,
): Promise<RequestState | null> {
  const st = await openRequestState(ctx.env.SESSION_SECRET, req.params?.requestState);
  const ok =
    st &&
    st.email === ctx.identity.email.toLowerCase() &&
    st.scope === ctx.scope &&
    st.server === server.id &&
    st.method === req.method &&
    st.exp * 1000 > Date.now() &&
    st.digest === (await requestDigest(upstreamRequest(ctx, server, req)));
  return ok ? st : null;
}

/** Whether the request answers the gateway's own connect prompt (a valid `connect` state). */
async function connectStateOk(ctx: RequestContext, server: CatalogServer, req: JsonRpcRequest): Promise<boolean> {
  return (await openOwnState(ctx, server, req))?.src.k === "connect";
}

async function* forwardOnce(
  ctx: RequestContext,
  server: CatalogServer,
  req: JsonRpcRequest,
  link: ReturnType<typeof linkedSignal>,
  o: { refresh?: boolean; seen?: { unauthorized: boolean } },
): AsyncGenerator<Outgoing> {
  const modern = ctx.client.era === "modern";
  const kind = upstreamKind(server);
  const level = !modern && kind === "modern" ? await sessionLevel(ctx) : undefined;
  const client: ClientView = level ? { ...ctx.client, logLevel: level } : ctx.client;
  let call: UpstreamCall;
  try {
    call = await upstreamCallFor(ctx, server, { signal: link.signal, client, refresh: o.refresh });
    if (o.seen) {
      const seen = o.seen;
      call.unauthorized = () => (seen.unauthorized = true);
      // a refused user token says nothing about the server: no re-listing for it
      const failed = call.failed;
      call.failed = () => {
        if (!seen.unauthorized) failed();
      };
    }
  } catch (err) {
    if (err instanceof NotConnectedError) return yield await connectPrompt(ctx, server, req, err);
    if (!(err instanceof UpstreamFailure)) throw err;
    log.warn("upstream credentials unavailable", { server: server.id, message: err.message });
    return yield rpcError(req.id, UPSTREAM_ERROR, `Upstream ${server.id} failed: ${err.message}`);
  }
  const limits = call.limits;
  const adapter = upstreamsOf(ctx).of(server);
  let upReq = upstreamRequest(ctx, server, req);

  // a modern client's retry of an input_required result: the state must be ours, for this request
  if (modern && req.params?.requestState !== undefined) {
    const st = await openOwnState(ctx, server, req);
    if (!st)
      return yield rpcError(
        req.id,
        INVALID_PARAMS,
        "Invalid params: requestState is not valid for this request (expired, altered, or issued for another request or user)",
      );
    if (st.src.k === "parked") return yield* resumeParked(ctx, call, req, st);
    // the answer to the gateway's connect prompt: the user is connected now, the request goes as sent first
    if (st.src.k === "upstream")
      upReq = {
        ...upReq,
        params: {
          ...upReq.params,
          ...(req.params.inputResponses !== undefined ? { inputResponses: req.params.inputResponses } : {}),
          ...(st.src.state !== undefined ? { requestState: st.src.state } : {}),
        },
      };
  }

  // a reviewed tool: forwarded only while the upstream still serves the approved definition
  if (req.method === "tools/call" && pinned(server)) {
    const name = String(upReq.params?.name);
    const hash = pinOf(server, name);
    const check =
      hash === undefined ? ({ kind: "changed", found: false } as const) : await checkPin(adapter, call, name, hash);
    if (check.kind === "failed") return yield { ...check.response, id: req.id };
    if (check.kind === "changed") {
      log.warn("tool call refused: the upstream no longer serves the approved definition", {
        server: server.id,
        tool: name,
        listed: check.found,
      });
      // the admins see the change once the catalog has re-listed the server
      ctx.later(requestRefresh(ctx.catalogBinding, server.id));
      return yield underReview(req.id, typeof req.params?.name === "string" ? req.params.name : name);
    }
  }

  const gen = adapter.send(call, upReq);
  for (;;) {
    const { value: r, done } = await gen.next();
    if (done) return;
    if (r.kind === "marker") {
      if (!modern)
        yield {
          marker: true,
          ...(r.eventId !== undefined ? { eventId: r.eventId } : {}),
          ...(r.retry !== undefined ? { retry: r.retry } : {}),
          ...(r.at ? { at: r.at } : {}),
        };
      continue;
    }
    if (r.kind === "notification") {
      const out = await relayNotification(ctx, server, r);
      if (out) yield tagged(out, r);
      continue;
    }
    if (r.kind === "request") {
      if (!modern) {
        const out = await relayRequest(ctx, server, call.target, r, limits);
        if (out) yield tagged(out, r);
        continue;
      }
      const need = NEEDS_CAPABILITY[r.message.method];
      if (!need || !declared(ctx.client, need)) {
        refuse(
          ctx,
          server,
          call.target,
          r,
          limits,
          need ? `client lacks the ${need} capability` : "not a request a client answers",
        );
        continue;
      }
      link.detach();
      return yield* park(ctx, call, req, upReq, r, gen);
    }
    // the response
    let res: JsonRpcResponse = { ...r.message, id: req.id };
    if (isInputRequired(res)) {
      if (!modern) return yield* satisfyForLegacy(ctx, call, adapter, req, upReq, res);
      return yield await wrapInputRequired(ctx, call, req, upReq, res);
    }
    res = await sealTasks(ctx, server, res);
    return yield tagged(res, r);
  }
}

/** Marks a relayed message with its upstream event (a session-era client can resume there). */
function tagged<T extends JsonRpcMessage>(m: T, r: Relay): T {
  if (r.eventId && r.at) eventRefs.set(m, { at: r.at, eid: r.eventId });
  return m;
}

/** Refuses a server-to-client request to the upstream (it was never sent to the client). */
function refuse(
  ctx: RequestContext,
  server: CatalogServer,
  target: UpstreamTarget,
  r: Extract<Relay, { kind: "request" }>,
  limits: ExchangeLimits,
  reason: string,
) {
  log.info("server-to-client request refused", { server: server.id, method: r.message.method, reason });
  ctx.later(
    upstreamsOf(ctx).answer(
      target,
      r.at,
      rpcError(r.message.id, METHOD_NOT_FOUND, `Client does not support ${r.message.method}`),
      limits,
    ),
  );
}

/**
 * A session-era upstream's request, for a session-era client: sent on with an id that seals where
 * it came from, or - when the client cannot take it or did not declare its capability - refused.
 */
async function relayRequest(
  ctx: RequestContext,
  server: CatalogServer,
  target: UpstreamTarget,
  r: Extract<Relay, { kind: "request" }>,
  limits: ExchangeLimits,
): Promise<JsonRpcMessage | null> {
  const m = r.message;
  const need = NEEDS_CAPABILITY[m.method] ?? (m.method.startsWith("tasks/") ? "tasks" : undefined);
  if (!ctx.client.canReceiveRequests || !ctx.session || (need && !declared(ctx.client, need))) {
    refuse(
      ctx,
      server,
      target,
      r,
      limits,
      !ctx.client.canReceiveRequests ? "the client takes JSON answers only" : `client lacks the ${need} capability`,
    );
    return null;
  }
  const id = await sealRelayedId(ctx.env.SESSION_SECRET, {
    k: "up",
    sid: ctx.session.sid,
    email: ctx.identity.email.toLowerCase(),
    reply: r.at,
    id: m.id,
  });
  return { ...m, id };
}

/**
 * A notification from an upstream. List changes make the catalog re-list the server. Session-era
 * clients get every notification (a cancellation of one of the upstream's own requests names it
 * by the id the client saw); modern clients only the request-scoped ones their request opted in to.
 */
async function relayNotification(
  ctx: RequestContext,
  server: CatalogServer,
  r: Extract<Relay, { kind: "notification" }>,
): Promise<JsonRpcMessage | null> {
  const m = r.message;
  if (/^notifications\/(tools|prompts|resources)\/list_changed$/.test(m.method))
    ctx.later(requestRefresh(ctx.catalogBinding, server.id));
  if (ctx.client.era === "modern") {
    if (m.method === "notifications/progress") return m;
    if (m.method === "notifications/message") {
      const want = ctx.client.logLevel;
      const level = typeof m.params?.level === "string" ? m.params.level : "";
      return want && LEVELS.indexOf(level) >= LEVELS.indexOf(want) ? m : null;
    }
    return null;
  }
  const requestId = m.params?.requestId;
  if (
    m.method === "notifications/cancelled" &&
    (typeof requestId === "string" || typeof requestId === "number") &&
    r.at &&
    ctx.session
  ) {
    const id = await sealRelayedId(ctx.env.SESSION_SECRET, {
      k: "up",
      sid: ctx.session.sid,
      email: ctx.identity.email.toLowerCase(),
      reply: r.at,
      id: requestId,
    });
    return { ...m, params: { ...m.params, requestId: id } };
  }
  if (m.method === "notifications/tasks/status" && typeof m.params?.taskId === "string") {
    return {
      ...m,
      params: {
        ...m.params,
        taskId: await sealTaskId(ctx.env.SESSION_SECRET, {
          email: ctx.identity.email.toLowerCase(),
          server: server.id,
          id: m.params.taskId,
        }),
      },
    };
  }
  return m as JsonRpcNotification;
}

/** Seals the task ids of a result (both eras' shapes), so the client's tasks/* calls route to their owner only. */
async function sealTasks(ctx: RequestContext, server: CatalogServer, res: JsonRpcResponse): Promise<JsonRpcResponse> {
  const r = res.result;
  if (!r) return res;
  const seal = (id: string) =>
    sealTaskId(ctx.env.SESSION_SECRET, { email: ctx.identity.email.toLowerCase(), server: server.id, id });
  let out = r;
  if (typeof r.taskId === "string") out = { ...out, taskId: await seal(r.taskId) };
  const task = r.task as Record<string, unknown> | undefined;
  if (task && typeof task === "object" && typeof task.taskId === "string")
    out = { ...out, task: { ...task, taskId: await seal(task.taskId) } };
  if (Array.isArray(r.tasks)) {
    out = {
      ...out,
      tasks: await Promise.all(
        r.tasks.map(async (t) =>
          t && typeof t === "object" && typeof (t as Record<string, unknown>).taskId === "string"
            ? { ...(t as object), taskId: await seal((t as Record<string, string>).taskId!) }
            : t,
        ),
      ),
    };
  }
  return out === r ? res : { ...res, result: out };
}

/** The capabilities a set of input requests needs that the client did not declare. */
function missingFor(client: ClientView, inputRequests: Record<string, unknown>): string[] {
  const missing = new Set<string>();
  for (const ir of Object.values(inputRequests)) {
    const method = (ir as { method?: unknown })?.method;
    const need = typeof method === "string" ? NEEDS_CAPABILITY[method] : undefined;
    if (!need || !declared(client, need)) missing.add(need ?? String(method));
    const mode = ((ir as { params?: { mode?: unknown } })?.params?.mode ?? "form") as string;
    if (need === "elicitation" && declared(client, "elicitation")) {
      const e = client.caps.elicitation as Record<string, unknown>;
      const modes: string[] = Object.keys(e ?? {}).filter((k) => k === "form" || k === "url");
      if (modes.length && !modes.includes(mode)) missing.add(`elicitation.${mode}`);
    }
  }
  return [...missing];
}

/**
 * A modern upstream's `input_required` for a modern client: passed on with its `requestState`
 * sealed (bound to the user, the request and a TTL). Input requests the client cannot answer
 * (undeclared capabilities: the upstream should not have sent them) end it with -32021.
 */
async function wrapInputRequired(
  ctx: RequestContext,
  call: UpstreamCall,
  req: JsonRpcRequest,
  upReq: JsonRpcRequest,
  res: JsonRpcResponse,
): Promise<JsonRpcResponse> {
  const irs = (res.result?.inputRequests ?? {}) as Record<string, unknown>;
  const missing = missingFor(ctx.client, irs);
  if (missing.length) {
    return rpcError(req.id, MISSING_CAPABILITY, `Missing required client capability: ${missing.join(", ")}`, {
      requiredCapabilities: Object.fromEntries(missing.map((m) => [m, {}])),
    });
  }
  const upstreamState = typeof res.result?.requestState === "string" ? res.result.requestState : undefined;
  const state = await sealRequestState(ctx.env.SESSION_SECRET, {
    email: ctx.identity.email.toLowerCase(),
    scope: ctx.scope,
    method: req.method,
    digest: await requestDigest(upReq),
    exp: Math.floor(Date.now() / 1000) + ctx.env.MRTR_STATE_TTL_SECONDS,
    server: call.server.id,
    src: { k: "upstream", ...(upstreamState !== undefined ? { state: upstreamState } : {}) },
  });
  return { ...res, result: { ...res.result, requestState: state } };
}

/**
 * Parks a session-era upstream exchange for a modern client: the client gets `input_required`
 * with the upstream's request, the exchange keeps running (its later messages go to a mailbox)
 * and the sealed state names it.
 */
async function* park(
  ctx: RequestContext,
  call: UpstreamCall,
  req: JsonRpcRequest,
  upReq: JsonRpcRequest,
  first: Extract<Relay, { kind: "request" }>,
  gen: AsyncGenerator<Relay>,
): AsyncGenerator<Outgoing> {
  const box = newBox();
  holdBox(box);
  const ttl = ctx.env.MRTR_STATE_TTL_SECONDS;
  const deadline = Date.now() + ttl * 1000;
  // the upstream waits for a person now: its silence is no failure until the state expires
  call.limits.timeoutMs = ttl * 1000;
  ctx.later(drain(ctx, box, gen, deadline));
  const state = await sealRequestState(ctx.env.SESSION_SECRET, {
    email: ctx.identity.email.toLowerCase(),
    scope: ctx.scope,
    method: req.method,
    digest: await requestDigest(upReq),
    exp: Math.floor(deadline / 1000),
    server: call.server.id,
    src: { k: "parked", box: `${box}/0/0`, pending: [{ key: "r0", reply: first.at, id: first.message.id }] },
  });
  yield resultResponse(req.id, {
    resultType: "input_required",
    inputRequests: { r0: { method: first.message.method, params: first.message.params ?? {} } },
    requestState: state,
  });
}

/** Keeps reading a parked exchange, posting what comes to its mailbox, until its response or the deadline. */
async function drain(ctx: RequestContext, box: string, gen: AsyncGenerator<Relay>, deadline: number): Promise<void> {
  try {
    for (;;) {
      if (Date.now() > deadline) break;
      const { value, done } = await gen.next();
      if (done) break;
      await post(ctx.db, box, value);
      if (value.kind === "response") break;
    }
  } catch (err) {
    log.warn("parked upstream exchange failed", { message: String((err as Error)?.message ?? err) });
    await post(ctx.db, box, {
      kind: "response",
      message: rpcError(null, UPSTREAM_ERROR, "Upstream failed while waiting for the client's input"),
    } satisfies Relay).catch(() => {});
  } finally {
    void gen.return(undefined).catch(() => {});
    releaseBox(box);
  }
}

/**
 * A modern client's retry of a parked exchange: the client's input answers the upstream's pending
 * request(s), then the exchange's messages are relayed from the mailbox until its response - or
 * its next server-to-client request, which parks it again. A state is used once.
 */
async function* resumeParked(
  ctx: RequestContext,
  call: UpstreamCall,
  req: JsonRpcRequest,
  st: RequestState,
): AsyncGenerator<Outgoing> {
  if (st.src.k !== "parked") return;
  const [box, roundText, takenText] = st.src.box.split("/");
  const round = Number(roundText);
  let taken = Number(takenText);
  if (!box || !(await claim(ctx.db, `${box}/${round}`)))
    return yield rpcError(req.id, INVALID_PARAMS, "Invalid params: this requestState was already used");
  const answers = (req.params?.inputResponses ?? {}) as Record<string, unknown>;
  for (const p of st.src.pending) {
    const a = answers[p.key];
    const msg =
      a && typeof a === "object"
        ? { jsonrpc: "2.0" as const, id: p.id, result: a as Record<string, unknown> }
        : rpcError(p.id, INVALID_REQUEST, "The client gave no answer");
    await upstreamsOf(ctx).answer(call.target, p.reply, msg, call.limits);
  }
  let skip = taken;
  for await (const item of read(ctx.db, box, { signal: ctx.signal, deadline: st.exp * 1000 })) {
    if (skip > 0) {
      skip--;
      continue;
    }
    taken++;
    const r = item as Relay;
    if (r.kind === "notification") {
      const out = await relayNotification(ctx, call.server, r);
      if (out) yield out;
    } else if (r.kind === "request") {
      const need = NEEDS_CAPABILITY[r.message.method];
      if (!need || !declared(ctx.client, need)) {
        refuse(
          ctx,
          call.server,
          call.target,
          r,
          call.limits,
          need ? `client lacks the ${need} capability` : "not a request a client answers",
        );
        continue;
      }
      const state = await sealRequestState(ctx.env.SESSION_SECRET, {
        ...st,
        src: {
          k: "parked",
          box: `${box}/${round + 1}/${taken}`,
          pending: [{ key: `r${round + 1}`, reply: r.at, id: r.message.id }],
        },
      });
      return yield resultResponse(req.id, {
        resultType: "input_required",
        inputRequests: { [`r${round + 1}`]: { method: r.message.method, params: r.message.params ?? {} } },
        requestState: state,
      });
    } else if (r.kind === "response") {
      return yield await sealTasks(ctx, call.server, { ...r.message, id: req.id });
    }
  }
  yield rpcError(req.id, UPSTREAM_ERROR, `Upstream ${call.server.id} did not answer before the request state expired`);
}

/** What an `input_required` asked for, in words, for a client that cannot answer it. */
function describeInputs(inputRequests: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const ir of Object.values(inputRequests)) {
    const { method, params } = (ir ?? {}) as { method?: string; params?: Record<string, unknown> };
    if (method === "elicitation/create" && params?.mode === "url")
      parts.push(`open ${String(params.url)} to continue${params.message ? ` (${String(params.message)})` : ""}`);
    else if (method === "elicitation/create")
      parts.push(`it asks for your input: ${String(params?.message ?? "(no message)")}`);
    else if (method === "sampling/createMessage") parts.push("it asks the client for an LLM completion (sampling)");
    else if (method === "roots/list") parts.push("it asks for the client's roots (the folders it may use)");
    else parts.push(`it asks for ${String(method)}`);
  }
  return parts.join("; ");
}

/**
 * A modern upstream's `input_required` for a session-era client: each input request becomes a
 * real server-to-client request; the answers (separate POSTs, possibly on another replica) come
 * through a mailbox and the original request is retried with them, until it completes.
 */
async function* satisfyForLegacy(
  ctx: RequestContext,
  call: UpstreamCall,
  adapter: Upstream,
  req: JsonRpcRequest,
  upReq: JsonRpcRequest,
  first: JsonRpcResponse,
): AsyncGenerator<Outgoing> {
  let res = first;
  for (let round = 1; isInputRequired(res); round++) {
    const irs = (res.result?.inputRequests ?? {}) as Record<
      string,
      { method: string; params?: Record<string, unknown> }
    >;
    const keys = Object.keys(irs);
    const missing = missingFor(ctx.client, irs);
    if (round > MAX_ROUNDS || !ctx.session || (keys.length && (!ctx.client.canReceiveRequests || missing.length))) {
      const why =
        round > MAX_ROUNDS
          ? `it asked for input more than ${MAX_ROUNDS} times`
          : !ctx.client.canReceiveRequests
            ? "this request was answered as JSON, which cannot carry requests to the client"
            : `the client did not declare ${missing.join(", ")}`;
      const text = `The server needs more than this client can give: ${describeInputs(irs)} (${why}).`;
      return yield req.method === "tools/call"
        ? resultResponse(req.id, { content: [{ type: "text", text }], isError: true })
        : rpcError(req.id, INVALID_REQUEST, text, { requiredCapabilities: missing });
    }
    const answers: Record<string, unknown> = {};
    if (keys.length) {
      const box = newBox();
      holdBox(box);
      try {
        for (const key of keys) {
          const id = await sealRelayedId(ctx.env.SESSION_SECRET, {
            k: "mrtr",
            sid: ctx.session.sid,
            email: ctx.identity.email.toLowerCase(),
            box,
            key,
          });
          yield { jsonrpc: "2.0", id, method: irs[key]!.method, params: irs[key]!.params ?? {} };
        }
        const deadline = Date.now() + ctx.env.MRTR_STATE_TTL_SECONDS * 1000;
        for await (const v of read(ctx.db, box, { signal: ctx.signal, deadline })) {
          const a = v as { key?: string; response?: JsonRpcResponse };
          if (a.key && keys.includes(a.key) && a.response) answers[a.key] = a.response;
          if (keys.every((k) => answers[k] !== undefined)) break;
        }
      } finally {
        releaseBox(box);
      }
      if (ctx.signal.aborted) return;
      if (!keys.every((k) => answers[k] !== undefined))
        return yield rpcError(req.id, UPSTREAM_ERROR, "The client did not answer the server's requests in time");
      const failed = keys.map((k) => answers[k] as JsonRpcResponse).find((a) => a.error);
      if (failed?.error)
        return yield rpcError(
          req.id,
          failed.error.code,
          `The client refused the server's request: ${failed.error.message}`,
        );
    }
    const inputResponses = Object.fromEntries(keys.map((k) => [k, (answers[k] as JsonRpcResponse).result ?? {}]));
    const state = typeof res.result?.requestState === "string" ? { requestState: res.result.requestState } : {};
    const retry: JsonRpcRequest = {
      ...upReq,
      id: `mcpgw-retry-${crypto.randomUUID()}`,
      params: { ...upReq.params, inputResponses, ...state },
    };
    let next: JsonRpcResponse | null = null;
    for await (const r of adapter.send(call, retry)) {
      if (r.kind === "notification") {
        const out = await relayNotification(ctx, call.server, r);
        if (out) yield out;
      } else if (r.kind === "response") next = { ...r.message, id: req.id };
    }
    if (!next) return;
    res = next;
  }
  yield await sealTasks(ctx, call.server, res);
}

/** A client's answer to an `mrtr` relayed request: to the mailbox of the request waiting for it. */
export async function deliverInputAnswer(
  ctx: Pick<RequestContext, "db">,
  box: string,
  key: string,
  response: JsonRpcResponse,
): Promise<void> {
  await post(ctx.db, box, { key, response });
}

/**
 * A session-era upstream stream not tied to one request - the standalone GET stream, or a stream
 * resumed with `Last-Event-ID` - as a session-era client gets it: requests sealed (or refused),
 * notifications relayed, a resumed request's response passed on, each with its resumable event id.
 */
export async function* relayStream(
  ctx: RequestContext,
  call: Pick<UpstreamCall, "server" | "target">,
  relays: AsyncGenerator<Relay>,
): AsyncGenerator<Outgoing> {
  const { server, target } = call;
  const limits = limitsOf(ctx);
  for await (const r of relays) {
    if (r.kind === "marker") {
      yield {
        marker: true,
        ...(r.eventId !== undefined ? { eventId: r.eventId } : {}),
        ...(r.retry !== undefined ? { retry: r.retry } : {}),
        ...(r.at ? { at: r.at } : {}),
      };
    } else if (r.kind === "notification") {
      const out = await relayNotification(ctx, server, r);
      if (out) yield tagged(out, r);
    } else if (r.kind === "request") {
      const out = await relayRequest(ctx, server, target, r, limits);
      if (out) yield tagged(out, r);
    } else {
      yield tagged(await sealTasks(ctx, server, r.message), r);
    }
  }
}
