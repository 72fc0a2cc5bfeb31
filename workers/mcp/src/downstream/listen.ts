/**
 * `subscriptions/listen` (2026-07-28): one long-lived POST whose SSE answer carries the change
 * notifications the client opted in to, each tagged with the subscription id (the request's id),
 * after an acknowledgment of what the gateway agreed to:
 * - `toolsListChanged`, `promptsListChanged`, `resourcesListChanged`: from the catalog watch
 *   (streams.ts), so a grant change or an upstream's change reaches the client;
 * - `resourceSubscriptions`: URIs of the user's visible servers only (a hidden or unknown URI is
 *   left out of the acknowledgment, as any unsupported one), subscribed upstream per server - a
 *   modern upstream through its own `subscriptions/listen`, a session-era one through an upstream
 *   session of this stream alone (`resources/subscribe` + its GET stream), ended with the stream.
 */
import { log } from "../../../../shared/log";
import { rpcError, INVALID_PARAMS, type JsonRpcMessage, type JsonRpcRequest } from "../../../../shared/mcp/jsonrpc";
import { limitsOf, relayStream, upstreamCallFor, type Outgoing } from "../bridge/bridge";
import { refreshNow, scopedServers, type CatalogServer } from "../catalog.client";
import type { RequestContext } from "../dispatch/context";
import { findResourceServer } from "../dispatch/resources";
import { upstreamFetch } from "../upstream/http";
import { modernHeaders, modernVersionFor, withModernMeta } from "../upstream/modern.upstream";
import { deleteUpstream, sessionUpstream, standaloneStream } from "../upstream/session.upstream";
import { endSession } from "../upstream/upstream-sessions.repo";
import { upstreamTarget } from "../upstream/credentials";
import { upstreamKind, type UpstreamCall } from "../upstream/upstream";
import { httpError, jsonAnswer, sseResponse, type StreamDeps } from "./respond";
import { LIST_NOTIFICATIONS, watchCatalog, type Nudge } from "./streams";

const SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId";

interface Filter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

function parseFilter(v: unknown): Filter | string {
  if (!v || typeof v !== "object" || Array.isArray(v)) return "params.notifications must be an object";
  const f = v as Record<string, unknown>;
  const out: Filter = {};
  for (const k of ["toolsListChanged", "promptsListChanged", "resourcesListChanged"] as const) {
    if (f[k] === undefined) continue;
    if (typeof f[k] !== "boolean") return `params.notifications.${k} must be a boolean`;
    out[k] = f[k] as boolean;
  }
  if (f.resourceSubscriptions !== undefined) {
    if (
      !Array.isArray(f.resourceSubscriptions) ||
      f.resourceSubscriptions.some((u) => typeof u !== "string" || /[\u0000-\u001f]/.test(u)) ||
      f.resourceSubscriptions.length > 1000
    ) {
      return "params.notifications.resourceSubscriptions must be a list of at most 1000 URIs";
    }
    out.resourceSubscriptions = [...new Set(f.resourceSubscriptions as string[])];
  }
  return out;
}

export function listen(ctx: RequestContext, req: JsonRpcRequest, deps: StreamDeps): Response {
  const filter = parseFilter(req.params?.notifications);
  if (typeof filter === "string") return jsonAnswer(rpcError(req.id, INVALID_PARAMS, `Invalid params: ${filter}`), 200);
  const servers = scopedServers(ctx.catalog, ctx.scope);
  // resource URIs by the visible server that owns them; others are not agreed to
  const byServer = new Map<CatalogServer, string[]>();
  for (const uri of filter.resourceSubscriptions ?? []) {
    const s = findResourceServer(servers, uri);
    if (!s || upstreamKind(s) === "legacy-sse") continue;
    const list = byServer.get(s) ?? [];
    list.push(uri);
    byServer.set(s, list);
  }
  const agreed: Filter = {
    ...(filter.toolsListChanged ? { toolsListChanged: true } : {}),
    ...(filter.promptsListChanged ? { promptsListChanged: true } : {}),
    ...(filter.resourcesListChanged ? { resourcesListChanged: true } : {}),
    ...(filter.resourceSubscriptions ? { resourceSubscriptions: [...byServer.values()].flat() } : {}),
  };
  if (req.id === null) return httpError(400, INVALID_PARAMS, "subscriptions/listen needs an id");
  return sseResponse(stream(ctx, req, agreed, byServer), deps, { keepAlive: true });
}

async function* stream(
  ctx: RequestContext,
  req: JsonRpcRequest,
  agreed: Filter,
  byServer: Map<CatalogServer, string[]>,
): AsyncGenerator<Outgoing> {
  const tag = (m: JsonRpcMessage): JsonRpcMessage => {
    const params = ("params" in m && m.params) || {};
    const meta = (params._meta && typeof params._meta === "object" ? params._meta : {}) as Record<string, unknown>;
    return { ...m, params: { ...params, _meta: { ...meta, [SUBSCRIPTION_ID]: req.id } } } as JsonRpcMessage;
  };
  yield tag({ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: { notifications: agreed } });
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  ctx.signal.addEventListener("abort", onAbort);
  const queue: JsonRpcMessage[] = [];
  let wake: (() => void) | null = null;
  const push = (m: JsonRpcMessage) => {
    queue.push(tag(m));
    const w = wake;
    wake = null;
    w?.();
  };
  const kinds = new Set<ListKindName>([
    ...(agreed.toolsListChanged ? ["tools" as const] : []),
    ...(agreed.promptsListChanged ? ["prompts" as const] : []),
    ...(agreed.resourcesListChanged ? ["resources" as const] : []),
  ]);
  const nudged: Nudge = { nudge: () => {} };
  if (kinds.size) {
    void (async () => {
      try {
        for await (const kind of watchCatalog(ctx, ctl.signal, nudged))
          if (kinds.has(kind)) push({ jsonrpc: "2.0", method: LIST_NOTIFICATIONS[kind] });
      } catch (err) {
        log.warn("catalog watch failed", { message: String((err as Error)?.message ?? err) });
      }
    })();
  }
  // an upstream's own list change: the catalog re-lists it now, then the watch says what changed for this user
  const changed = (server: CatalogServer) => void refreshNow(ctx.catalogBinding, server.id).then(() => nudged.nudge());
  const cleanups: (() => Promise<void>)[] = [];
  const servers = scopedServers(ctx.catalog, ctx.scope);
  for (const server of servers) {
    const uris = byServer.get(server) ?? [];
    const lists = [...kinds].filter((k) => announcesChanges(server, k));
    if (uris.length || lists.length)
      void watchUpstream(ctx, server, { uris, lists }, ctl.signal, push, () => changed(server), cleanups);
  }
  try {
    while (!ctl.signal.aborted) {
      while (queue.length) yield queue.shift()!;
      await new Promise<void>((resolve) => {
        const done = () => {
          ctl.signal.removeEventListener("abort", done);
          resolve();
        };
        ctl.signal.addEventListener("abort", done);
        wake = done;
      });
    }
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    ctl.abort();
    for (const c of cleanups) ctx.later(c().catch(() => {}));
  }
}

type ListKindName = "tools" | "prompts" | "resources";

const LIST_FILTER: Record<ListKindName, "toolsListChanged" | "promptsListChanged" | "resourcesListChanged"> = {
  tools: "toolsListChanged",
  prompts: "promptsListChanged",
  resources: "resourcesListChanged",
};

/** Whether an upstream says it announces changes of a list (capabilities.<kind>.listChanged). */
function announcesChanges(server: CatalogServer, kind: ListKindName): boolean {
  return (server.capabilities?.[kind] as { listChanged?: unknown } | undefined)?.listChanged === true;
}

/**
 * Listens at `server` for this stream: updates of `uris` are pushed as `notifications/resources/updated`,
 * and a change of one of `lists` calls `changed` (the catalog re-lists the server; the watch reports it).
 */
async function watchUpstream(
  ctx: RequestContext,
  server: CatalogServer,
  want: { uris: string[]; lists: ListKindName[] },
  signal: AbortSignal,
  push: (m: JsonRpcMessage) => void,
  changed: () => void,
  cleanups: (() => Promise<void>)[],
): Promise<void> {
  const uris = want.uris;
  const wanted = new Set(uris);
  const listMethods = new Set(want.lists.map((k) => LIST_NOTIFICATIONS[k]));
  const forward = (m: JsonRpcMessage) => {
    if (!("method" in m)) return;
    if (listMethods.has(m.method)) return changed();
    if (
      m.method === "notifications/resources/updated" &&
      typeof m.params?.uri === "string" &&
      [...wanted].some((u) => m.params!.uri === u || String(m.params!.uri).startsWith(u))
    ) {
      const { _meta: _m, ...params } = m.params;
      push({ jsonrpc: "2.0", method: m.method, params });
    }
  };
  const limits = limitsOf(ctx);
  try {
    const target = await upstreamTarget(ctx.catalogBinding, ctx.identity.email, server);
    if (upstreamKind(server) === "modern") {
      const notifications = {
        ...Object.fromEntries(want.lists.map((k) => [LIST_FILTER[k], true])),
        ...(uris.length ? { resourceSubscriptions: uris } : {}),
      };
      const body = withModernMeta(
        ctx,
        {
          jsonrpc: "2.0",
          id: `mcpgw-listen-${crypto.randomUUID()}`,
          method: "subscriptions/listen",
          params: { notifications },
        },
        modernVersionFor(server),
      );
      const ex = await upstreamFetch(
        target,
        {
          method: "POST",
          body,
          version: modernVersionFor(server),
          headers: modernHeaders(server, body),
          idleTimeout: false,
        },
        limits,
        signal,
      );
      if (!ex.res.ok) {
        await ex.res.body?.cancel().catch(() => {});
        log.warn("upstream refused subscriptions/listen", { server: server.id, status: ex.res.status });
        return;
      }
      for await (const m of ex.messages()) forward(m);
      return;
    }
    // a session-era upstream: an upstream session of this stream alone, subscribed, its GET stream read
    const owner = `l.${crypto.randomUUID()}`;
    const call: UpstreamCall = {
      ...(await upstreamCallFor(ctx, server, { signal, sid: owner, limits })),
      failed: () => {},
    };
    cleanups.push(async () => {
      const gone = await endSession(ctx.db, owner, ctx.identity.email);
      for (const us of gone) if (us.usid) await deleteUpstream(target, us.usid, us.version, limits);
    });
    for (const uri of uris) {
      for await (const r of sessionUpstream.send(call, {
        jsonrpc: "2.0",
        id: `mcpgw-sub-${crypto.randomUUID()}`,
        method: "resources/subscribe",
        params: { uri },
      })) {
        if (r.kind === "response" && r.message.error)
          log.warn("upstream refused resources/subscribe", { server: server.id, message: r.message.error.message });
      }
    }
    const opened = await standaloneStream(call, null);
    if (!opened.relays) return;
    for await (const m of relayStream(
      { ...ctx, client: { ...ctx.client, era: "legacy", canReceiveRequests: false } },
      call,
      opened.relays,
    ))
      if (!("marker" in m)) forward(m);
  } catch (err) {
    if (!signal.aborted)
      log.warn("resource subscription ended", { server: server.id, message: String((err as Error)?.message ?? err) });
  }
}
