/**
 * Session-era upstreams (Streamable HTTP, 2025-03-26 .. 2025-11-25). Every request runs in an
 * upstream session that belongs to one user only:
 * - a session-era client's downstream session has its own upstream session per server, opened on
 *   first use with the client's version, capabilities and info (so the upstream offers what it
 *   would offer that client directly);
 * - a modern client has no session: its requests use the user's upstream session for the same
 *   capabilities and log level (one per user, server and that fingerprint), opened on first use.
 * Sessions are recorded in Postgres (upstream-sessions.repo.ts), so any replica continues them,
 * and re-opened when the upstream forgets one. A stream the upstream closes before answering is
 * resumed with `Last-Event-ID` when it gave event ids (SEP-1699 polling).
 */
import { statusHint } from "../../../../shared/upstream-diagnosis";
import { canonicalJson } from "../../../../shared/canonical";
import { sha256Hex } from "../../../../shared/crypto";
import { rpcError, isRequest, isResponse, UPSTREAM_ERROR, type JsonRpcRequest } from "../../../../shared/mcp/jsonrpc";
import { LATEST_VERSION } from "../../../../shared/mcp/versions";
import { log } from "../../../../shared/log";
import {
  upstreamFetch,
  UpstreamFailure,
  type ExchangeLimits,
  type UpstreamExchange,
  type UpstreamTarget,
} from "./http";
import { adoptedLately, credentialsVersionOf, enter, isStateful, noteAdopted, poolKeyOf, pooled } from "./pool";
import {
  adoptParked,
  adoptParkedAhead,
  findUpstreamSession,
  forgetCached,
  forgetMarked,
  markNotReusable,
  saveUpstreamSession,
  type UpstreamSession,
} from "./upstream-sessions.repo";
import type { Relay, Upstream, UpstreamCall } from "./upstream";

/** Upstream sessions being opened in this isolate (`<owner>\0<server>`), with the requests waiting for them. */
const opening = new Map<string, Set<() => void>>();

/** Per downstream session: wake-ups of this isolate's aggregate streams when an upstream session opens. */
export const openedListeners = new Map<string, Set<() => void>>();

/** Longest pause the gateway honours before resuming a stream the upstream closed (ms). */
const MAX_RETRY_WAIT_MS = 5_000;
/** Resumptions of one request's stream at most (an upstream that closes every stream at once cannot loop it). */
const MAX_RESUMES = 20;

/** Who an upstream session belongs to, and what it was opened with. */
interface Owner {
  /** The downstream session id, or `m.<hash>` for a modern client's per-user session. */
  key: string;
  version: string;
  caps: Record<string, unknown>;
  info?: Record<string, unknown>;
  logLevel?: string;
}

/** Capabilities as the session era spells them (modern-only fields dropped). */
export function legacyCaps(caps: Record<string, unknown>): Record<string, unknown> {
  const { extensions: _extensions, ...rest } = caps;
  return rest;
}

/** The upstream session owner of a call. */
async function ownerOf(call: UpstreamCall): Promise<Owner> {
  const c = call.client;
  if (call.sid) return { key: call.sid, version: c.version, caps: c.caps, ...(c.info ? { info: c.info } : {}) };
  const caps = legacyCaps(c.caps);
  const fp = await sha256Hex(
    `${call.identity.email.toLowerCase()}\u0000${canonicalJson(caps)}\u0000${c.logLevel ?? ""}`,
  );
  return {
    key: `m.${fp.slice(0, 40)}`,
    version: LATEST_VERSION,
    caps,
    ...(c.info ? { info: c.info } : {}),
    ...(c.logLevel ? { logLevel: c.logLevel } : {}),
  };
}

/**
 * Whether an upstream's answer means it no longer knows our session: 404 (the spec), or 400 whose
 * body speaks of the session (what several SDK-based servers, server-everything among them,
 * answer). Consumes the body in those cases. A 400 was not processed, so re-sending is safe.
 */
async function sessionLost(res: Response): Promise<boolean> {
  if (res.status === 404) {
    await res.body?.cancel().catch(() => {});
    return true;
  }
  if (res.status !== 400) return false;
  const text = await res.text().catch(() => "");
  return /session/i.test(text.slice(0, 2000));
}

/**
 * Opens an upstream session: initialize (with the owner's version, capabilities and info), then
 * notifications/initialized (alongside recording it), then the owner's log level if it has one.
 */
export async function initializeUpstream(
  server: UpstreamTarget,
  owner: Omit<Owner, "key">,
  limits: ExchangeLimits,
  alongside?: (s: { usid: string | null; version: string }) => Promise<void>,
): Promise<{ usid: string | null; version: string }> {
  const id = `mcpgw-init-${crypto.randomUUID()}`;
  const ex = await upstreamFetch(
    server,
    {
      method: "POST",
      body: {
        jsonrpc: "2.0",
        id,
        method: "initialize",
        params: {
          protocolVersion: owner.version,
          capabilities: owner.caps,
          clientInfo: owner.info ?? { name: "mcp-gateway", version: "0.1.0" },
        },
      },
    },
    limits,
  );
  if (!ex.res.ok) {
    await ex.res.body?.cancel().catch(() => {});
    throw new UpstreamFailure(
      server.id,
      `upstream ${server.id} refused initialize (HTTP ${ex.res.status}) - ${statusHint(ex.res.status)}`,
      ex.res.status,
    );
  }
  let result: Record<string, unknown> | undefined;
  for await (const m of ex.messages()) {
    if ("id" in m && m.id === id && !("method" in m)) {
      if (m.error) throw new UpstreamFailure(server.id, `upstream ${server.id} refused initialize: ${m.error.message}`);
      result = m.result;
      break;
    }
  }
  ex.abort("done");
  if (!result) throw new UpstreamFailure(server.id, `upstream ${server.id} did not answer initialize`);
  const usid = ex.res.headers.get("mcp-session-id");
  const version = typeof result.protocolVersion === "string" ? result.protocolVersion : owner.version;
  const initialized = async () => {
    const note = await upstreamFetch(
      server,
      { method: "POST", body: { jsonrpc: "2.0", method: "notifications/initialized" }, usid, version },
      limits,
    );
    await note.res.body?.cancel().catch(() => {});
    return note;
  };
  const [note] = await Promise.all([initialized(), alongside?.({ usid, version })]);
  if (!note.res.ok)
    throw new UpstreamFailure(
      server.id,
      `upstream ${server.id} refused notifications/initialized (HTTP ${note.res.status})`,
      note.res.status,
    );
  const logs = (result.capabilities as Record<string, unknown> | undefined)?.logging !== undefined;
  if (owner.logLevel && logs) {
    const level = await upstreamFetch(
      server,
      {
        method: "POST",
        body: {
          jsonrpc: "2.0",
          id: `mcpgw-level-${crypto.randomUUID()}`,
          method: "logging/setLevel",
          params: { level: owner.logLevel },
        },
        usid,
        version,
      },
      limits,
    );
    for await (const _ of level.messages()) break;
    level.abort("done");
  }
  return { usid, version };
}

/** Posts a notification or a response into an upstream session (expects 202); never throws. */
export async function postToUpstream(
  server: UpstreamTarget,
  message: unknown,
  usid: string | null,
  version: string,
  limits: ExchangeLimits,
): Promise<number> {
  try {
    const ex = await upstreamFetch(server, { method: "POST", body: message, usid, version }, limits);
    await ex.res.body?.cancel().catch(() => {});
    return ex.res.status;
  } catch {
    return 0;
  }
}

/** Ends an upstream session (DELETE); never throws (an upstream forgets idle sessions on its own). */
export async function deleteUpstream(
  server: UpstreamTarget,
  usid: string,
  version: string,
  limits: ExchangeLimits,
): Promise<void> {
  try {
    const ex = await upstreamFetch(server, { method: "DELETE", usid, version }, limits);
    await ex.res.body?.cancel().catch(() => {});
  } catch {
    // gone already
  }
}

/**
 * The upstream session of `owner` on `server`, opened on first use - once: a request that finds
 * another request of this isolate opening it (an SDK client's GET stream and its first call race
 * for it) waits for that one instead of opening a second upstream session. The wait is a wake-up
 * callback plus a timer of its own (a request must not wait on another request's I/O: workerd
 * would cancel it as hung); when the opener fails, the waiter tries itself.
 */
async function sessionOf(call: UpstreamCall, owner: Owner, stale?: UpstreamSession): Promise<UpstreamSession> {
  const server = call.server;
  const key = `${owner.key}\u0000${server.id}`;
  let dead = stale !== undefined;
  for (let first = true; ; first = false) {
    // after a 404: another request (or replica) may have re-opened it already
    const found = await findUpstreamSession(call.db, owner.key, server.id, stale !== undefined && first ? true : false);
    if (found && found.usid !== stale?.usid) {
      if (!credentialsChanged(call, found)) return found;
      // a pooled session opened with credentials that changed since: never used again (ended
      // upstream); its replacement may come from the pool, under the new credentials' key
      log.info("upstream credentials changed; replacing the upstream session", { server: server.id });
      forgetCached(owner.key, server.id);
      if (found.usid) call.later(deleteUpstream(call.target, found.usid, found.version, call.limits));
      stale = found;
      dead = false;
    }
    const waiters = opening.get(key);
    if (!waiters) break;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, call.limits.timeoutMs);
      waiters.add(done);
    });
  }
  opening.set(key, new Set());
  try {
    if (dead) log.info("upstream session expired; opening a new one", { server: server.id });
    // never from the pool after a 404: the session adopted may just have died
    return await open(call, owner, !dead);
  } finally {
    const waiters = opening.get(key);
    opening.delete(key);
    for (const wake of waiters ?? []) wake();
  }
}

/** Whether a pooled upstream session was opened with other credentials than the server's current ones. */
function credentialsChanged(call: UpstreamCall, us: UpstreamSession): boolean {
  return (
    us.poolKey !== undefined &&
    us.credentialsVersion !== undefined &&
    us.credentialsVersion !== credentialsVersionOf(call)
  );
}

/**
 * Adopts ahead of use the upstream sessions the user parked for a new downstream session `sid`
 * (at initialize, in the background): the session's first GET or call then finds its upstream
 * session ready instead of waiting for it. Holds this isolate's opening lock of each server from
 * the first (synchronous) step, so a request of the session waits for it rather than opening one
 * of its own. Only adopts: a server with nothing parked is opened on first use as before.
 * @param servers the session-era servers of the session's endpoint
 * @param calls builds the calls (one per server; their targets carry the credentials)
 */
export async function adoptAhead(sid: string, servers: string[], calls: () => Promise<UpstreamCall[]>): Promise<void> {
  const locks = servers.map((id) => `${sid}\u0000${id}`).filter((key) => !opening.has(key));
  for (const key of locks) opening.set(key, new Set());
  try {
    const built = (await calls()).filter((c) => pooled(c) && locks.includes(`${sid}\u0000${c.server.id}`));
    if (!built.length) return;
    const keyed = await Promise.all(
      built.map(async (c) => ({ call: c, poolKey: await poolKeyOf(c, await ownerOf(c)) })),
    );
    const first = built[0]!;
    const got = await adoptParkedAhead(
      first.db,
      keyed.flatMap((k) => (k.poolKey ? [k.poolKey] : [])),
      first.env.MCP_SESSION_POOL_SECONDS,
      sid,
      first.identity.email,
    );
    for (const us of got.adopted) if (us.usid) noteAdopted(us.usid);
    if (got.adopted.length) for (const wake of openedListeners.get(sid) ?? []) wake();
    for (const us of got.orphaned) {
      const c = built.find((b) => b.server.id === us.server);
      if (c && us.usid) await deleteUpstream(c.target, us.usid, us.version, c.limits);
    }
  } catch (err) {
    log.warn("adopting parked upstream sessions failed", { message: String((err as Error)?.message ?? err) });
  } finally {
    for (const key of locks) {
      const waiters = opening.get(key);
      opening.delete(key);
      for (const wake of waiters ?? []) wake();
    }
  }
}

/**
 * Opens the owner's upstream session on the call's server: adopts one the same user parked
 * (pool.ts) when the pool is on and `adopt`, else initializes a new one (recorded with its pool key).
 */
async function open(call: UpstreamCall, owner: Owner, adopt = true): Promise<UpstreamSession> {
  const server = call.target;
  const poolKey = await poolKeyOf(call, owner);
  const credentialsVersion = credentialsVersionOf(call);
  forgetMarked(owner.key, server.id);
  if (poolKey && adopt) {
    const got = await adoptParked(call.db, {
      poolKey,
      poolSeconds: call.env.MCP_SESSION_POOL_SECONDS,
      sid: owner.key,
      email: call.identity.email,
      server: server.id,
      credentialsVersion,
    });
    // expired parked sessions of this key, and the server's opened with other credentials: ended upstream, best effort
    for (const old of got.expired) if (old.usid) call.later(deleteUpstream(server, old.usid, old.version, call.limits));
    if (got.adopted) {
      if (got.adopted.usid) noteAdopted(got.adopted.usid);
      for (const wake of openedListeners.get(owner.key) ?? []) wake();
      return got.adopted;
    }
  }
  const pool = poolKey ? { poolKey, credentialsVersion } : {};
  // the session is recorded while notifications/initialized goes out
  const record = (o: { usid: string | null; version: string }) =>
    saveUpstreamSession(call.db, owner.key, call.identity.email, { server: server.id, ...o, ...pool });
  const opened = await initializeUpstream(server, owner, call.limits, record);
  for (const wake of openedListeners.get(owner.key) ?? []) wake();
  return { server: server.id, usid: opened.usid, version: opened.version, ...pool };
}

/** After the upstream said 404: another request or replica may have re-opened it already; else open anew. */
async function reopen(call: UpstreamCall, owner: Owner, stale: UpstreamSession): Promise<UpstreamSession> {
  forgetCached(owner.key, call.server.id);
  return sessionOf(call, owner, stale);
}

/**
 * Relays one exchange's events for `reqId`: notifications and server-to-client requests as they
 * come, markers (event ids, retry hints), the response last. Returns how it ended.
 */
async function* relayExchange(
  call: UpstreamCall,
  ex: UpstreamExchange,
  us: UpstreamSession,
  reqId: JsonRpcRequest["id"] | null,
): AsyncGenerator<Relay, { answered: boolean; lastEventId?: string; retry?: number }> {
  const server = call.server;
  let lastEventId: string | undefined;
  let retry: number | undefined;
  for await (const e of ex.events()) {
    const at = { server: server.id, via: "session" as const, usid: us.usid, uv: us.version };
    if (!("message" in e)) {
      lastEventId = e.eventId ?? lastEventId;
      retry = e.retry ?? retry;
      yield { kind: "marker", ...e, at };
      continue;
    }
    if (e.eventId) lastEventId = e.eventId;
    const m = e.message;
    const ev = e.eventId ? { eventId: e.eventId } : {};
    if (isResponse(m)) {
      // a stream not tied to one request (a resumed one) carries responses of requests made before
      if (reqId === null) {
        yield { kind: "response", message: m, ...ev, at };
        continue;
      }
      if (m.id === reqId) {
        ex.abort("done");
        yield { kind: "response", message: m, ...ev, at };
        return { answered: true, lastEventId, retry };
      }
      continue;
    }
    if (isRequest(m)) yield { kind: "request", message: m, at, ...ev };
    else yield { kind: "notification", message: m, ...ev, at };
  }
  return { answered: false, lastEventId, retry };
}

/**
 * Relays `primary` to its end while also relaying the server-to-client requests of `side` (the
 * upstream session's GET stream): some session-era servers send requests that belong to no client
 * request there (server-everything's roots/list), which a modern client can only answer through the
 * request it has in flight. `side` is closed when `primary` ends.
 */
async function* withSideRequests(
  primary: AsyncGenerator<Relay>,
  side: Promise<AsyncGenerator<Relay> | null>,
): AsyncGenerator<Relay> {
  let sideGen: AsyncGenerator<Relay> | null = null;
  let sideNext: Promise<{ from: "side"; r: IteratorResult<Relay> }> | null = side.then(async (g) => {
    sideGen = g;
    return { from: "side" as const, r: g ? await g.next() : { done: true as const, value: undefined } };
  });
  let mainNext = primary.next().then((r) => ({ from: "main" as const, r }));
  try {
    for (;;) {
      const got = await Promise.race(sideNext ? [mainNext, sideNext] : [mainNext]);
      if (got.from === "main") {
        if (got.r.done) return;
        yield got.r.value;
        mainNext = primary.next().then((r) => ({ from: "main" as const, r }));
        continue;
      }
      if (got.r.done) {
        sideNext = null;
        continue;
      }
      if (got.r.value.kind === "request") yield got.r.value;
      const g = sideGen as AsyncGenerator<Relay> | null;
      sideNext = g ? g.next().then((r) => ({ from: "side" as const, r })) : null;
    }
  } finally {
    void (sideGen as AsyncGenerator<Relay> | null)?.return(undefined).catch(() => {});
    void primary.return(undefined).catch(() => {});
  }
}

/** Whether a modern client's call may be asked something on the upstream's GET stream (it declared a capability to answer). */
function answersSideRequests(call: UpstreamCall): boolean {
  const caps = call.client.caps;
  return (
    !call.sid &&
    call.client.era === "modern" &&
    (caps.roots !== undefined || caps.sampling !== undefined || caps.elicitation !== undefined)
  );
}

/** GETs of an adopted session that met 409 (its previous stream still closing upstream) retried at most, 50 ms more apart each time. */
const ADOPTED_GET_RETRIES = 8;

/** How long a call waits for the upstream's GET stream to open before it goes out anyway (ms). */
const SIDE_STREAM_WAIT_MS = 300;

export const sessionUpstream: Upstream = {
  async *send(call, req) {
    if (!answersSideRequests(call)) return yield* sendOne(call, req);
    // the GET stream should be open before the call goes out: a session-era server drops what it
    // sends on a standalone stream no one holds (and then waits for an answer that never comes).
    // Some servers send the GET's headers only with its first event: wait a little, then go on.
    const sideCtl = new AbortController();
    const onAbort = () => sideCtl.abort();
    call.signal.addEventListener("abort", onAbort);
    const side = standaloneStream({ ...call, signal: sideCtl.signal }, null)
      .then((o) => o.relays ?? null)
      .catch(() => null);
    let waited: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([side, new Promise((r) => (waited = setTimeout(r, SIDE_STREAM_WAIT_MS)))]);
    clearTimeout(waited);
    try {
      yield* withSideRequests(sendOne(call, req), side);
    } finally {
      call.signal.removeEventListener("abort", onAbort);
      sideCtl.abort();
    }
  },
};

async function* sendOne(call: UpstreamCall, req: JsonRpcRequest): AsyncGenerator<Relay> {
  let inFlight: UpstreamSession | null = null;
  let answered = false;
  // a pooled session with a request in flight is never parked; one asked something by the upstream
  // (roots, sampling, elicitation: the upstream may keep what it learnt) is never reused
  const leave = pooled(call) ? enter(call.sid, call.server.id) : () => {};
  let marked = false;
  try {
    for await (const r of sendOneInner(call, req, (us) => (inFlight = us))) {
      // answered: the upstream session is idle again (the consumer may not read on after the response)
      if (r.kind === "response") {
        answered = true;
        leave();
      }
      if (r.kind === "request" && !marked && pooled(call)) {
        marked = true;
        call.later(markNotReusable(call.db, call.sid, call.server.id));
      }
      yield r;
    }
  } finally {
    leave();
    // a modern client cancels by closing its stream; a session-era upstream learns of it only from notifications/cancelled
    const us = inFlight as UpstreamSession | null;
    if (!answered && us && call.signal.aborted && call.client.era === "modern") {
      call.later(
        postToUpstream(
          call.target,
          {
            jsonrpc: "2.0",
            method: "notifications/cancelled",
            params: { requestId: req.id, reason: "the client closed its request" },
          },
          us.usid,
          us.version,
          call.limits,
        ),
      );
    }
  }
}

async function* sendOneInner(
  call: UpstreamCall,
  req: JsonRpcRequest,
  sent: (us: UpstreamSession) => void,
): AsyncGenerator<Relay> {
  {
    const server = call.target;
    try {
      const owner = await ownerOf(call);
      let us = await sessionOf(call, owner);
      // a request that leaves state in the upstream session: never parked for another session
      if (pooled(call) && isStateful(req)) await markNotReusable(call.db, call.sid, server.id);
      for (let attempt = 0; ; attempt++) {
        const ex = await upstreamFetch(
          server,
          { method: "POST", body: req, usid: us.usid, version: us.version, headers: clientTraceHeaders(call) },
          call.limits,
          call.signal,
        );
        sent(us);
        if (us.usid && attempt === 0 && (await sessionLost(ex.res))) {
          us = await reopen(call, owner, us);
          continue;
        }
        if (!ex.res.ok) {
          await ex.res.body?.cancel().catch(() => {});
          if (ex.res.status === 401) call.unauthorized?.();
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
        let end = yield* relayExchange(call, ex, us, req.id);
        // a session-era client reading SSE resumes a closed stream itself (GET with the Last-Event-ID
        // the gateway sealed), as it would directly: end its stream as the upstream ended its own
        if (
          !end.answered &&
          end.lastEventId &&
          call.sid &&
          call.client.era === "legacy" &&
          call.client.canReceiveRequests
        )
          return;
        // closed before answering: continue the stream where it broke, when the upstream can
        for (
          let resumes = 0;
          !end.answered && end.lastEventId && resumes < MAX_RESUMES && !call.signal.aborted;
          resumes++
        ) {
          await new Promise((r) => setTimeout(r, Math.min(end.retry ?? 0, MAX_RETRY_WAIT_MS)));
          const again = await upstreamFetch(
            server,
            { method: "GET", usid: us.usid, version: us.version, lastEventId: end.lastEventId },
            call.limits,
            call.signal,
          );
          if (!again.res.ok || !(again.res.headers.get("content-type") ?? "").includes("text/event-stream")) {
            await again.res.body?.cancel().catch(() => {});
            break;
          }
          const next = yield* relayExchange(call, again, us, req.id);
          end = { ...next, lastEventId: next.lastEventId ?? end.lastEventId };
        }
        if (end.answered || call.signal.aborted) return;
        call.failed();
        yield {
          kind: "response",
          message: rpcError(
            req.id,
            UPSTREAM_ERROR,
            `Upstream ${server.id} failed: it closed the stream without answering`,
          ),
        };
        return;
      }
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
  }
}

/** W3C trace context for the upstream request's headers. */
export function clientTraceHeaders(call: Pick<UpstreamCall, "client">): Record<string, string> {
  const t = call.client.trace;
  return {
    ...(t?.traceparent ? { traceparent: t.traceparent } : {}),
    ...(t?.tracestate ? { tracestate: t.tracestate } : {}),
  };
}

/**
 * Continues a session-era stream after a client's `Last-Event-ID` (the event id sealed the
 * upstream session and the upstream's own event id): GET with that id, everything relayed until
 * the upstream ends the stream.
 */
export async function* resumeUpstream(
  call: UpstreamCall,
  us: UpstreamSession,
  lastEventId: string,
): AsyncGenerator<Relay> {
  const ex = await upstreamFetch(
    call.target,
    { method: "GET", usid: us.usid, version: us.version, lastEventId, idleTimeout: false },
    call.limits,
    call.signal,
  );
  if (!ex.res.ok || !(ex.res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    await ex.res.body?.cancel().catch(() => {});
    throw new UpstreamFailure(
      call.server.id,
      `upstream ${call.server.id} cannot resume that stream (HTTP ${ex.res.status})`,
      ex.res.status,
    );
  }
  yield* relayExchange(call, ex, us, null);
}

/**
 * The upstream's standalone GET stream of a session-era downstream session (server-initiated
 * messages), opening its upstream session when needed. `existing`: attach to that session only.
 * Status 409 when the upstream already has a stream for the session, 405 when it offers none.
 */
export async function standaloneStream(
  call: UpstreamCall,
  lastEventId: string | null,
  existing?: UpstreamSession,
): Promise<{ status: number; relays?: AsyncGenerator<Relay> }> {
  const server = call.target;
  const owner = await ownerOf(call);
  let us = existing ?? (await sessionOf(call, owner));
  let reopened = false;
  for (let attempt = 0; ; attempt++) {
    const ex = await upstreamFetch(
      server,
      { method: "GET", usid: us.usid, version: us.version, lastEventId, idleTimeout: false },
      call.limits,
      call.signal,
    );
    if (!existing && us.usid && !reopened && (await sessionLost(ex.res))) {
      reopened = true;
      us = await reopen(call, owner, us);
      continue;
    }
    // a session adopted from the pool: its previous user's stream may still be closing upstream
    if (ex.res.status === 409 && adoptedLately(us.usid) && attempt < ADOPTED_GET_RETRIES && !call.signal.aborted) {
      await ex.res.body?.cancel().catch(() => {});
      await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
      continue;
    }
    if (!ex.res.ok || !(ex.res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      await ex.res.body?.cancel().catch(() => {});
      return { status: ex.res.status === 409 ? 409 : 405 };
    }
    const session = us;
    async function* relays(): AsyncGenerator<Relay> {
      let marked = false;
      try {
        for await (const r of relayExchange(call, ex, session, null)) {
          if (r.kind === "response") continue;
          if (r.kind === "request" && !marked && pooled(call)) {
            marked = true;
            call.later(markNotReusable(call.db, call.sid, server.id));
          }
          yield r;
        }
      } catch (err) {
        if (!(err instanceof UpstreamFailure)) throw err;
        log.info("upstream GET stream ended", { server: server.id, message: err.message });
      }
    }
    return { status: 200, relays: relays() };
  }
}
