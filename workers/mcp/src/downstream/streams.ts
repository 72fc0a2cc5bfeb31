/**
 * Long-lived downstream streams: the session era's aggregate GET stream of `/mcp` and the
 * catalog watch behind both it and the modern `subscriptions/listen`. The watch re-reads the
 * user's catalog (the isolate cache, then a 304 from the catalog worker) about once a second and
 * announces `list_changed` when what the user sees changed - a grant given or taken, an upstream
 * that changed its tools - so clients learn of it without polling. No stream holds a database
 * connection, and none waits on another request's I/O (wake-up callbacks and timers of its own).
 */
import { canonicalJson } from "../../../../shared/canonical";
import { log } from "../../../../shared/log";
import type { JsonRpcMessage } from "../../../../shared/mcp/jsonrpc";
import { relayStream, upstreamCallFor, type Outgoing } from "../bridge/bridge";
import { CatalogUnavailable, fetchUserCatalog, fetchUserServer, type UserCatalog } from "../catalog.client";
import type { RequestContext } from "../dispatch/context";
import { listedItems, type ListKind } from "../dispatch/lists";
import { openedListeners, standaloneStream } from "../upstream/session.upstream";
import { isKnownEnded, listUpstreamSessions, type UpstreamSession } from "../upstream/upstream-sessions.repo";
import { upstreamKind, type UpstreamCall } from "../upstream/upstream";

/** How often `/mcp`'s standalone stream looks for upstream sessions opened on other replicas (ms). */
const AGGREGATE_POLL_MS = 10_000;

/** Wakes the session's aggregate streams in this isolate (after a DELETE: they see it ended and close). */
export function wakeStreams(sid: string): void {
  for (const wake of openedListeners.get(sid) ?? []) wake();
}

/** The three list kinds a watch reports, and their notifications. */
export const LIST_NOTIFICATIONS: Record<"tools" | "prompts" | "resources", string> = {
  tools: "notifications/tools/list_changed",
  prompts: "notifications/prompts/list_changed",
  resources: "notifications/resources/list_changed",
};

type Watched = keyof typeof LIST_NOTIFICATIONS;

/** A fingerprint of what one list shows the user (definitions included: a changed description is a change). */
function fingerprints(catalog: UserCatalog, scope: string): Record<Watched, string> {
  const fp = (kind: ListKind) => canonicalJson(listedItems(catalog, scope, kind, []));
  return { tools: fp("tools"), prompts: fp("prompts"), resources: `${fp("resources")}${fp("resourceTemplates")}` };
}

/** Lets a stream make its catalog watch look again at once (after an upstream announced a change). */
export interface Nudge {
  nudge: () => void;
}

/**
 * Watches the user's catalog on an endpoint: yields the list kinds whose content changed since
 * the watch began (or since the last change yielded), until `signal` aborts. `nudged.nudge()`
 * makes it look again at once, past the isolate's cache.
 */
export async function* watchCatalog(ctx: RequestContext, signal: AbortSignal, nudged?: Nudge): AsyncGenerator<Watched> {
  const interval = Math.max(1000, ctx.env.MCP_CATALOG_TTL_MS);
  let last = ctx.catalog;
  let prints = fingerprints(last, ctx.scope);
  let wake: (() => void) | null = null;
  let urgent = false;
  if (nudged)
    nudged.nudge = () => {
      urgent = true;
      wake?.();
    };
  while (!signal.aborted) {
    if (!urgent) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          wake = null;
          resolve();
        };
        const timer = setTimeout(done, interval);
        signal.addEventListener("abort", done);
        wake = done;
      });
    }
    if (signal.aborted) return;
    const ttl = urgent ? 0 : ctx.env.MCP_CATALOG_TTL_MS;
    urgent = false;
    let now: UserCatalog;
    try {
      now =
        ctx.scope === "*"
          ? await fetchUserCatalog(ctx.catalogBinding, ctx.identity.email, ttl)
          : await fetchUserServer(ctx.catalogBinding, ctx.identity.email, ctx.scope, ttl);
    } catch (err) {
      if (!(err instanceof CatalogUnavailable)) throw err;
      continue; // the next look may find it again
    }
    if (now === last) continue; // the same parsed catalog: nothing changed
    last = now;
    const next = fingerprints(now, ctx.scope);
    for (const kind of Object.keys(LIST_NOTIFICATIONS) as Watched[]) if (next[kind] !== prints[kind]) yield kind;
    prints = next;
  }
}

/** Resolves after `ms`, or when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/**
 * The standalone stream of `/mcp` (session era): the GET streams of the upstream sessions this
 * session has opened, merged, attaching to new ones as they open (at once when opened in this
 * isolate, else within {@link AGGREGATE_POLL_MS}), plus `list_changed` when the user's lists
 * change. Opens no upstream session itself, so a client that only lists costs no upstream contact.
 */
export async function* aggregateStream(ctx: RequestContext): AsyncGenerator<Outgoing> {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  ctx.signal.addEventListener("abort", onAbort);
  const queue: Outgoing[] = [];
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const attached = new Set<string>();
  const sid = ctx.session!.sid;
  const listeners = openedListeners.get(sid) ?? new Set<() => void>();
  openedListeners.set(sid, listeners);
  listeners.add(poke);
  const server = (id: string) => ctx.catalog.servers.find((s) => s.id === id);
  const attach = async (us: UpstreamSession) => {
    const s = server(us.server);
    if (!s || upstreamKind(s) === "legacy-sse") return;
    try {
      const call: UpstreamCall = { ...(await upstreamCallFor(ctx, s, { signal: ctl.signal, sid })), failed: () => {} };
      const opened = await standaloneStream(call, null, us);
      if (!opened.relays) return;
      for await (const m of relayStream(ctx, call, opened.relays)) {
        queue.push(m);
        poke();
      }
    } catch (err) {
      log.warn("aggregate stream source failed", {
        server: us.server,
        message: String((err as Error)?.message ?? err),
      });
    }
  };
  const watch = async () => {
    try {
      for await (const kind of watchCatalog(ctx, ctl.signal)) {
        queue.push({ jsonrpc: "2.0", method: LIST_NOTIFICATIONS[kind] } satisfies JsonRpcMessage);
        poke();
      }
    } catch (err) {
      log.warn("catalog watch failed", { message: String((err as Error)?.message ?? err) });
    }
  };
  void watch();
  try {
    let lastPoll = 0;
    let fresh = true;
    // ends with the client's connection or with the session (DELETE here, or seen by the ended-session poll)
    while (!ctl.signal.aborted && !isKnownEnded(sid)) {
      if (fresh || Date.now() - lastPoll >= AGGREGATE_POLL_MS) {
        fresh = false;
        lastPoll = Date.now();
        for (const us of await pollUpstreamSessions(ctx, sid)) {
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
    ctx.signal.removeEventListener("abort", onAbort);
    ctl.abort();
  }
}

/** The upstream sessions of this session (through the pool: a long-lived stream holds no connection). */
async function pollUpstreamSessions(ctx: RequestContext, sid: string): Promise<UpstreamSession[]> {
  try {
    return await listUpstreamSessions(ctx.db, sid);
  } catch (err) {
    log.warn("aggregate stream could not look for upstream sessions", {
      message: String((err as Error)?.message ?? err),
    });
    return [];
  }
}
