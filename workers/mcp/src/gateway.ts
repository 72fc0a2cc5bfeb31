/**
 * One MCP request of one downstream session, answered as the gateway: list methods from the
 * user's catalog (no upstream contact), everything naming a tool, prompt or resource checked
 * against that catalog again and then forwarded to the right upstream session, and the
 * upstream's notifications and server-to-client requests relayed back as they arrive.
 *
 * A hidden item and a missing one take the same path (the lookup only knows visible items), so
 * they fail with the same error under every spelling.
 */
import type { Identity } from "../../../shared/identity";
import { log } from "../../../shared/log";
import {
  errorResponse,
  INVALID_PARAMS,
  isRequest,
  isResponse,
  METHOD_NOT_FOUND,
  RESOURCE_NOT_FOUND,
  resultResponse,
  UPSTREAM_ERROR,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../../../shared/mcp/jsonrpc";
import { recordToolCall } from "./audit";
import type { McpDb } from "./db";
import { forwardLegacy, LEGACY_VERSION_MARK, postLegacy } from "./legacy-sse.client";
import { requestRefresh, type CatalogServer, type UserCatalog } from "./catalog.client";
import type { McpEnv } from "./env";
import { namedItems } from "./names";
import { listPage } from "./pagination";
import { findResourceServer, findTemplateServer } from "./resources";
import { sealRelayedId, type SessionState } from "./session.token";
import { initializeUpstream, postToUpstream, upstreamFetch, UpstreamFailure, type UpstreamTarget } from "./upstream.client";
import { upstreamTarget } from "./upstream.credentials";
import { findUpstreamSession, forgetCached, isKnownEnded, listUpstreamSessions, saveUpstreamSession, type UpstreamSession } from "./upstream-sessions.repo";

/** Server-to-client requests and the client capability each needs. */
const NEEDS_CAPABILITY: Record<string, string> = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots",
};

/** How often `/mcp`'s standalone stream looks for upstream sessions opened on other replicas (ms). */
const AGGREGATE_POLL_MS = 10_000;
/** Per downstream session: wake-ups of this isolate's `/mcp` streams when an upstream session opens. */
const openedListeners = new Map<string, Set<() => void>>();

/** Upstream sessions being opened in this isolate (`<sid>\0<server>`), with the requests waiting for them. */
const opening = new Map<string, Set<() => void>>();

/** Wakes the session's aggregate streams in this isolate (after a DELETE: they see it ended and close). */
export function wakeStreams(sid: string): void {
  for (const wake of openedListeners.get(sid) ?? []) wake();
}

type ListKind = "tools" | "prompts" | "resources" | "resourceTemplates";

/** Per catalog object (cached and shared: see catalog.client.ts): each list's items, by kind and scope. */
const listMemo = new WeakMap<UserCatalog, Map<string, Record<string, unknown>[]>>();

/** Methods forwarded unchanged on `/mcp/<server>` only (they name no tool, prompt or resource). */
const SINGLE_SERVER_PASSTHROUGH = new Set(["tasks/get", "tasks/result", "tasks/list", "tasks/cancel"]);

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

export interface GatewayDeps {
  env: McpEnv;
  catalogBinding: Fetcher;
  identity: Identity;
  state: SessionState;
  catalog: UserCatalog;
  db: McpDb;
  /** Registers work to finish after the response (audit, notifications to upstreams). */
  later: (p: Promise<unknown>) => void;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** False when the answer is plain JSON: then server-to-client requests cannot reach the client. Default true. */
  canRelay?: boolean;
  /**
   * Told, for each forwarded request, how the upstream answers once its response headers are in:
   * `true` for a JSON body (the response and nothing else), `false` for a stream (SSE, or a
   * legacy HTTP+SSE upstream) on which notifications and requests may come first.
   */
  onUpstreamAnswer?: (json: boolean) => void;
}

export class Gateway {
  constructor(private readonly d: GatewayDeps) {}

  private get scope() {
    return this.d.state.scope;
  }

  /** The servers this endpoint shows: all of the user's on /mcp, the one on /mcp/<server>. */
  visibleServers(): CatalogServer[] {
    return this.scope === "*" ? this.d.catalog.servers : this.d.catalog.servers.filter((s) => s.id === this.scope);
  }

  private server(id: string): CatalogServer | undefined {
    return this.visibleServers().find((s) => s.id === id);
  }

  /** Where to send for `server`, with its secret headers for this user (upstream.credentials.ts). */
  private target(server: CatalogServer): Promise<UpstreamTarget> {
    return upstreamTarget(this.d.catalogBinding, this.d.identity.email, server);
  }

  /** Answers one request; yields relayed notifications/requests first, its response last. */
  async *handle(req: JsonRpcRequest): AsyncGenerator<JsonRpcMessage> {
    const p = req.params ?? {};
    switch (req.method) {
      case "ping":
        yield resultResponse(req.id, {});
        return;
      case "tools/list":
        yield this.list(req, "tools");
        return;
      case "prompts/list":
        yield this.list(req, "prompts");
        return;
      case "resources/list":
        yield this.list(req, "resources");
        return;
      case "resources/templates/list":
        yield this.list(req, "resourceTemplates");
        return;
      case "tools/call":
        yield* this.callTool(req);
        return;
      case "prompts/get": {
        const name = p.name;
        if (typeof name !== "string") return yield errorResponse(req.id, INVALID_PARAMS, "params.name must be a string");
        const hit = namedItems(this.d.catalog, this.scope, "prompts").get(name);
        if (!hit) return yield errorResponse(req.id, INVALID_PARAMS, `Prompt ${name} not found`);
        yield* this.forward(hit.server, { ...req, params: { ...p, name: hit.upstreamName } });
        return;
      }
      case "resources/read":
      case "resources/subscribe":
      case "resources/unsubscribe": {
        const uri = p.uri;
        if (typeof uri !== "string") return yield errorResponse(req.id, INVALID_PARAMS, "params.uri must be a string");
        const server = findResourceServer(this.visibleServers(), uri);
        if (!server) return yield errorResponse(req.id, RESOURCE_NOT_FOUND, "Resource not found", { uri });
        yield* this.forward(server, req);
        return;
      }
      case "completion/complete":
        yield* this.complete(req);
        return;
      case "logging/setLevel":
        yield* this.setLevel(req);
        return;
      default:
        if (this.scope !== "*" && SINGLE_SERVER_PASSTHROUGH.has(req.method)) {
          const server = this.server(this.scope);
          if (server) {
            yield* this.forward(server, req);
            return;
          }
        }
        yield errorResponse(req.id, METHOD_NOT_FOUND, `Method not found: ${req.method}`);
    }
  }

  /**
   * A list from the catalog. On `/mcp`, servers whose last refresh failed drop out of lists (with
   * a warning) so one broken upstream does not offer tools that cannot work; their items stay
   * callable, so a call gets the upstream's error rather than "unknown".
   */
  private list(req: JsonRpcRequest, kind: ListKind): JsonRpcResponse {
    const failing = this.scope === "*" ? this.d.catalog.servers.filter((s) => s.status?.ok === false).map((s) => s.id) : [];
    if (failing.length && !req.params?.cursor) log.warn("servers left out of a list: their upstream is failing", { kind, servers: failing });
    const key = kind === "resourceTemplates" ? "resourceTemplates" : kind;
    const page = listPage(this.listed(kind, failing), req.params?.cursor, this.d.env.MCP_PAGE_SIZE);
    if (!page) return errorResponse(req.id, INVALID_PARAMS, "Invalid cursor");
    return resultResponse(req.id, { [key]: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) });
  }

  /**
   * Everything a list shows, as listed (tools and prompts under this endpoint's names), built once
   * per catalog object, endpoint scope and kind: the pages of one list slice the same array.
   */
  private listed(kind: ListKind, failing: string[]): Record<string, unknown>[] {
    const catalog = this.d.catalog;
    let perCatalog = listMemo.get(catalog);
    if (!perCatalog) listMemo.set(catalog, (perCatalog = new Map()));
    const memoKey = `${kind}\u0000${this.scope}`;
    const hit = perCatalog.get(memoKey);
    if (hit) return hit;
    const left = new Set(failing);
    const items =
      kind === "tools" || kind === "prompts"
        ? [...namedItems(catalog, this.scope, kind).values()].filter((n) => !left.has(n.server.id)).map((n) => ({ ...n.item, name: n.name }))
        : this.visibleServers()
            .filter((s) => !left.has(s.id))
            .flatMap((s) => s[kind]);
    perCatalog.set(memoKey, items);
    return items;
  }

  private async *callTool(req: JsonRpcRequest): AsyncGenerator<JsonRpcMessage> {
    const p = req.params ?? {};
    const started = Date.now();
    const name = p.name;
    if (typeof name !== "string") return yield errorResponse(req.id, INVALID_PARAMS, "params.name must be a string");
    const hit = namedItems(this.d.catalog, this.scope, "tools").get(name);
    if (!hit) {
      this.audit(this.scope === "*" ? null : this.scope, name, "denied", started);
      return yield errorResponse(req.id, INVALID_PARAMS, `Unknown tool: ${name}`);
    }
    let outcome: "ok" | "error" = "error";
    try {
      for await (const m of this.forward(hit.server, { ...req, params: { ...p, name: hit.upstreamName } })) {
        if (isResponse(m) && m.id === req.id) outcome = m.error || m.result?.isError === true ? "error" : "ok";
        yield m;
      }
    } finally {
      this.audit(hit.server.id, hit.upstreamName, outcome, started);
    }
  }

  private audit(server: string | null, tool: string, outcome: "ok" | "error" | "denied", started: number) {
    this.d.later(recordToolCall(this.d.db, { actor: this.d.identity.email, server, tool, outcome, durationMs: Date.now() - started }));
  }

  private async *complete(req: JsonRpcRequest): AsyncGenerator<JsonRpcMessage> {
    const p = req.params ?? {};
    const ref = p.ref as Record<string, unknown> | undefined;
    if (!ref || typeof ref !== "object") return yield errorResponse(req.id, INVALID_PARAMS, "params.ref must be an object");
    if (ref.type === "ref/prompt") {
      const name = ref.name;
      if (typeof name !== "string") return yield errorResponse(req.id, INVALID_PARAMS, "params.ref.name must be a string");
      const hit = namedItems(this.d.catalog, this.scope, "prompts").get(name);
      if (!hit) return yield errorResponse(req.id, INVALID_PARAMS, `Prompt ${name} not found`);
      yield* this.forward(hit.server, { ...req, params: { ...p, ref: { ...ref, name: hit.upstreamName } } });
      return;
    }
    if (ref.type === "ref/resource") {
      const uri = ref.uri;
      if (typeof uri !== "string") return yield errorResponse(req.id, INVALID_PARAMS, "params.ref.uri must be a string");
      const server = findTemplateServer(this.visibleServers(), uri);
      if (!server) return yield errorResponse(req.id, INVALID_PARAMS, `Resource template ${uri} not found`);
      yield* this.forward(server, req);
      return;
    }
    yield errorResponse(req.id, INVALID_PARAMS, "params.ref.type must be ref/prompt or ref/resource");
  }

  private async *setLevel(req: JsonRpcRequest): AsyncGenerator<JsonRpcMessage> {
    const targets = this.visibleServers().filter((s) => this.scope !== "*" || s.capabilities?.logging !== undefined);
    if (this.scope !== "*" && targets[0]) {
      yield* this.forward(targets[0], req);
      return;
    }
    // aggregate: every server that logs gets the level; the client gets one answer
    const failures: string[] = [];
    await Promise.all(
      targets.map(async (s) => {
        for await (const m of this.forward(s, req)) if (isResponse(m) && m.error) failures.push(`${s.id}: ${m.error.message}`);
      }),
    );
    if (failures.length) log.warn("logging/setLevel failed on some upstreams", { failures });
    yield resultResponse(req.id, {});
  }

  /**
   * The upstream session of this downstream session on `server`, opened on first use - once: a
   * request that finds another request of this isolate opening it (an SDK client's GET stream and
   * its first call race for it) waits for that one instead of opening a second upstream session.
   * The wait is a wake-up callback plus a timer of its own (a request must not wait on another
   * request's I/O: workerd would cancel it as hung); when the opener fails, the waiter tries itself.
   */
  private async upstreamSession(server: CatalogServer): Promise<UpstreamSession> {
    const key = `${this.d.state.sid}\u0000${server.id}`;
    for (;;) {
      const found = await findUpstreamSession(this.d.db, this.d.state.sid, server.id);
      if (found) return found;
      const waiters = opening.get(key);
      if (!waiters) break;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, this.d.env.UPSTREAM_TIMEOUT_MS);
        waiters.add(done);
      });
    }
    opening.set(key, new Set());
    try {
      return await this.openUpstream(server);
    } finally {
      const waiters = opening.get(key);
      opening.delete(key);
      for (const wake of waiters ?? []) wake();
    }
  }

  private async openUpstream(server: CatalogServer): Promise<UpstreamSession> {
    // the session is recorded while notifications/initialized goes out
    const record = (o: { usid: string | null; version: string }) => saveUpstreamSession(this.d.db, this.d.state.sid, this.d.identity.email, { server: server.id, ...o });
    const opened = await initializeUpstream(
      await this.target(server),
      { version: this.d.state.v, capabilities: this.d.state.caps, clientInfo: this.d.state.info, alongside: record },
      this.d.env.UPSTREAM_TIMEOUT_MS,
    );
    const s = { server: server.id, usid: opened.usid, version: opened.version };
    for (const wake of openedListeners.get(this.d.state.sid) ?? []) wake();
    return s;
  }

  /** After the upstream said 404: another replica may have re-opened it already; else open anew. */
  private async reopenUpstream(server: CatalogServer, stale: UpstreamSession): Promise<UpstreamSession> {
    forgetCached(this.d.state.sid, server.id);
    const fresh = await findUpstreamSession(this.d.db, this.d.state.sid, server.id, true);
    if (fresh && fresh.usid !== stale.usid) return fresh;
    log.info("upstream session expired; opening a new one", { server: server.id });
    return this.openUpstream(server);
  }

  /**
   * Forwards a request to an upstream and relays what comes back, message by message: the
   * response to `req` last, notifications and server-to-client requests as they arrive.
   */
  async *forward(server: CatalogServer, req: JsonRpcRequest): AsyncGenerator<JsonRpcMessage> {
    const timeout = this.d.env.UPSTREAM_TIMEOUT_MS;
    try {
      if (server.transport === "sse") {
        this.d.onUpstreamAnswer?.(false);
        yield* forwardLegacy(await this.target(server), req, {
          capabilities: this.d.state.caps,
          clientInfo: this.d.state.info,
          timeoutMs: timeout,
          signal: this.d.signal,
          relay: (endpoint, m) => this.relayRequest(server, { server: server.id, usid: endpoint, version: LEGACY_VERSION_MARK }, m),
          notify: (endpoint, m) => this.relayNotification(server, { server: server.id, usid: endpoint, version: LEGACY_VERSION_MARK }, m),
        });
        return;
      }
      let us = await this.upstreamSession(server);
      for (let attempt = 0; ; attempt++) {
        const ex = await upstreamFetch(await this.target(server), { method: "POST", body: req, usid: us.usid, version: us.version }, timeout, this.d.signal);
        if (us.usid && attempt === 0 && (await sessionLost(ex.res))) {
          us = await this.reopenUpstream(server, us);
          continue;
        }
        if (!ex.res.ok) {
          await ex.res.body?.cancel().catch(() => {});
          log.warn("upstream refused a request", { server: server.id, method: req.method, status: ex.res.status });
          this.upstreamFailed(server);
          yield errorResponse(req.id, UPSTREAM_ERROR, `Upstream ${server.id} failed: HTTP ${ex.res.status}`);
          return;
        }
        this.d.onUpstreamAnswer?.((ex.res.headers.get("content-type") ?? "").toLowerCase().includes("application/json"));
        for await (const m of ex.messages()) {
          if (isResponse(m)) {
            if (m.id === req.id) {
              ex.abort("done");
              yield m;
              return;
            }
            continue;
          }
          const out = isRequest(m) ? await this.relayRequest(server, us, m) : await this.relayNotification(server, us, m as JsonRpcNotification);
          if (out) yield out;
        }
        if (this.d.signal.aborted) return;
        this.upstreamFailed(server);
        yield errorResponse(req.id, UPSTREAM_ERROR, `Upstream ${server.id} failed: it closed the stream without answering`);
        return;
      }
    } catch (err) {
      if (!(err instanceof UpstreamFailure)) throw err;
      log.warn("upstream failure", { server: server.id, method: req.method, message: err.message });
      this.upstreamFailed(server);
      yield errorResponse(req.id, UPSTREAM_ERROR, `Upstream ${server.id} failed: ${err.message}`);
    }
  }

  /**
   * A forwarded request failed at the upstream: ask the catalog to re-list it (debounced), so its
   * health (admin view, /internal/status) says so and it drops out of lists until it recovers.
   */
  private upstreamFailed(server: CatalogServer) {
    this.d.later(requestRefresh(this.d.catalogBinding, server.id));
  }

  /** Streams an upstream's standalone GET stream (server-initiated messages) for `/mcp/<server>`. */
  async openStandaloneStream(
    server: CatalogServer,
    lastEventId: string | null,
    opts: { signal?: AbortSignal; existing?: UpstreamSession } = {},
  ): Promise<{ status: number; messages?: AsyncGenerator<JsonRpcMessage> }> {
    // a legacy upstream's sessions last one request; there is no stream to continue
    if (server.transport === "sse") return { status: 405 };
    let us = opts.existing ?? (await this.upstreamSession(server));
    for (let attempt = 0; ; attempt++) {
      const ex = await upstreamFetch(await this.target(server), { method: "GET", usid: us.usid, version: us.version, lastEventId, idleTimeout: false }, this.d.env.UPSTREAM_TIMEOUT_MS, opts.signal ?? this.d.signal);
      if (!opts.existing && us.usid && attempt === 0 && (await sessionLost(ex.res))) {
        us = await this.reopenUpstream(server, us);
        continue;
      }
      if (!ex.res.ok || !(ex.res.headers.get("content-type") ?? "").includes("text/event-stream")) {
        await ex.res.body?.cancel().catch(() => {});
        return { status: ex.res.status === 409 ? 409 : 405 };
      }
      const self = this;
      const session = us;
      async function* relay(): AsyncGenerator<JsonRpcMessage> {
        try {
          for await (const m of ex.messages()) {
            if (isResponse(m)) continue;
            const out = isRequest(m) ? await self.relayRequest(server, session, m) : await self.relayNotification(server, session, m as JsonRpcNotification);
            if (out) yield out;
          }
        } catch (err) {
          if (!(err instanceof UpstreamFailure)) throw err;
          log.info("upstream GET stream ended", { server: server.id, message: err.message });
        }
      }
      return { status: 200, messages: relay() };
    }
  }

  /**
   * The standalone stream of `/mcp`: the GET streams of the upstream sessions this session has
   * opened, merged, attaching to new ones as they open (at once when opened in this isolate,
   * else within {@link AGGREGATE_POLL_MS}). Opens no upstream session itself, so a client that
   * only lists costs no upstream contact.
   */
  async *aggregateStream(): AsyncGenerator<JsonRpcMessage> {
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    this.d.signal.addEventListener("abort", onAbort);
    const queue: JsonRpcMessage[] = [];
    let wake: (() => void) | null = null;
    const poke = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    const attached = new Set<string>();
    const sid = this.d.state.sid;
    const listeners = openedListeners.get(sid) ?? new Set<() => void>();
    openedListeners.set(sid, listeners);
    listeners.add(poke);
    const attach = async (us: UpstreamSession) => {
      const server = this.server(us.server);
      if (!server) return;
      try {
        const opened = await this.openStandaloneStream(server, null, { signal: ctl.signal, existing: us });
        if (!opened.messages) return;
        for await (const m of opened.messages) {
          queue.push(m);
          poke();
        }
      } catch (err) {
        if (!(err instanceof UpstreamFailure)) log.warn("aggregate stream source failed", { server: us.server, message: String((err as Error)?.message ?? err) });
      }
    };
    try {
      let lastPoll = 0;
      let fresh = true;
      // ends with the client's connection or with the session (DELETE here, or seen by the ended-session poll)
      while (!ctl.signal.aborted && !isKnownEnded(sid)) {
        if (fresh || Date.now() - lastPoll >= AGGREGATE_POLL_MS) {
          fresh = false;
          lastPoll = Date.now();
          for (const us of await this.pollUpstreamSessions()) {
            if (attached.has(us.server)) continue;
            attached.add(us.server);
            void attach(us);
          }
        }
        while (queue.length) yield queue.shift()!;
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            ctl.signal.removeEventListener("abort", done);
            resolve();
          };
          const timer = setTimeout(done, AGGREGATE_POLL_MS);
          ctl.signal.addEventListener("abort", done);
          wake = () => {
            fresh = true;
            done();
          };
        });
      }
    } finally {
      listeners.delete(poke);
      if (listeners.size === 0) openedListeners.delete(sid);
      this.d.signal.removeEventListener("abort", onAbort);
      ctl.abort();
    }
  }

  /** The upstream sessions of this session (through the pool: a long-lived stream holds no connection). */
  private async pollUpstreamSessions(): Promise<UpstreamSession[]> {
    try {
      return await listUpstreamSessions(this.d.db, this.d.state.sid);
    } catch (err) {
      log.warn("aggregate stream could not look for upstream sessions", { message: String((err as Error)?.message ?? err) });
      return [];
    }
  }

  /**
   * A server-to-client request: sent on with an id that seals where it came from, or - when the
   * client did not declare the capability it needs - refused to the upstream, never sent on.
   */
  private async relayRequest(server: CatalogServer, us: UpstreamSession, m: JsonRpcRequest): Promise<JsonRpcMessage | null> {
    const need = NEEDS_CAPABILITY[m.method] ?? (m.method.startsWith("tasks/") ? "tasks" : undefined);
    const unreachable = this.d.canRelay === false;
    if (unreachable || (need && this.d.state.caps[need] === undefined)) {
      log.info("server-to-client request refused", { server: server.id, method: m.method, reason: unreachable ? "the client takes JSON answers only" : `client lacks the ${need} capability` });
      const refusal = errorResponse(m.id, METHOD_NOT_FOUND, `Client does not support ${m.method}`);
      this.d.later(
        this.target(server).then((target) =>
          us.version === LEGACY_VERSION_MARK && us.usid
            ? postLegacy(target, us.usid, refusal, this.d.env.UPSTREAM_TIMEOUT_MS)
            : postToUpstream(target, refusal, us.usid, us.version, this.d.env.UPSTREAM_TIMEOUT_MS),
        ),
      );
      return null;
    }
    const id = await sealRelayedId(this.d.env.SESSION_SECRET, { sid: this.d.state.sid, email: this.d.identity.email, server: server.id, usid: us.usid, uv: us.version, id: m.id });
    return { ...m, id };
  }

  /**
   * A notification from an upstream: list changes trigger a catalog refresh; a cancellation of one
   * of the upstream's own requests names it by the id the client saw (the sealed ids are
   * deterministic); all are passed on.
   */
  private async relayNotification(server: CatalogServer, us: UpstreamSession, m: JsonRpcNotification): Promise<JsonRpcMessage | null> {
    if (/^notifications\/(tools|prompts|resources)\/list_changed$/.test(m.method)) {
      this.d.later(requestRefresh(this.d.catalogBinding, server.id));
    }
    const requestId = m.params?.requestId;
    if (m.method === "notifications/cancelled" && (typeof requestId === "string" || typeof requestId === "number")) {
      const id = await sealRelayedId(this.d.env.SESSION_SECRET, { sid: this.d.state.sid, email: this.d.identity.email, server: server.id, usid: us.usid, uv: us.version, id: requestId });
      return { ...m, params: { ...m.params, requestId: id } };
    }
    return m;
  }

  /** Sends a client notification (cancellation, roots change) to the upstream sessions it concerns. */
  async notifyUpstreams(m: JsonRpcNotification): Promise<void> {
    if (m.method !== "notifications/cancelled" && m.method !== "notifications/roots/list_changed") return;
    const sessions = await listUpstreamSessions(this.d.db, this.d.state.sid);
    await Promise.all(
      sessions.map(async (us) => {
        const server = this.server(us.server);
        if (server) await this.target(server).then((target) => postToUpstream(target, m, us.usid, us.version, this.d.env.UPSTREAM_TIMEOUT_MS), () => 0);
      }),
    );
  }
}
