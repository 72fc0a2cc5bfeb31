/**
 * The MCP endpoints: `/mcp` (every server the caller may use, names `<server>__<name>`) and
 * `/mcp/<server>` (one server, upstream names). One endpoint serves both protocol eras, chosen per
 * request as the spec says (classify.ts): 2026-07-28 requests go to the stateless transport,
 * everything of the session era (2025-03-26 .. 2025-11-25) to the session transport. Before
 * either: the DNS-rebinding guards (Origin, Host), the endpoint's existence for this caller
 * (403 for a server they may not use), and the body as JSON.
 */
import type { Context, Hono } from "hono";
import { readEnv } from "../../../../shared/env";
import type { Identity } from "../../../../shared/identity";
import { log } from "../../../../shared/log";
import { currentSpan, GATEWAY_ROOT_HEADER, parseTraceparent } from "../../../../shared/observe/trace";
import { INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR } from "../../../../shared/mcp/jsonrpc";
import {
  catalogFetcher,
  CatalogUnavailable,
  fetchUserCatalog,
  fetchUserServer,
  type UserCatalog,
} from "../catalog.client";
import { mcpDb } from "../db";
import { McpEnv } from "../env";
import { chooseEra, isModernBodyless } from "./classify";
import { hostAllowed, originAllowed } from "./guards";
import { httpError } from "./respond";
import { sessionDelete, sessionGet, sessionPost, type Exchange } from "./session.transport";
import { statelessPost } from "./stateless.transport";

type Env = { Bindings: Record<string, unknown>; Variables: { identity: Identity } };
type Ctx = Context<Env>;

const SERVER_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** Registers the MCP endpoints on the worker's app. */
export function registerMcpRoutes(app: Hono<Env>): void {
  for (const path of ["/mcp", "/mcp/:server"]) {
    app.all(path, (c) => handle(c));
  }
}

async function handle(c: Ctx): Promise<Response> {
  const env = readEnv(McpEnv, c.env);
  if (!originAllowed(c.req.raw, env)) {
    log.warn("request with a foreign Origin refused", { origin: c.req.header("origin") });
    return httpError(403, INVALID_REQUEST, "Forbidden: Origin not allowed");
  }
  if (!hostAllowed(c.req.raw, env)) {
    log.warn("request for a foreign Host refused", { host: new URL(c.req.url).host });
    return httpError(403, INVALID_REQUEST, "Forbidden: Host not allowed");
  }
  const scope = c.req.param("server") ?? "*";
  if (scope !== "*" && !SERVER_ID.test(scope))
    return httpError(403, INVALID_REQUEST, `Forbidden: you may not use server ${scope}`);
  const method = c.req.method;
  if (method !== "POST" && method !== "GET" && method !== "DELETE") {
    return httpError(405, INVALID_REQUEST, "Method not allowed", { allow: "GET, POST, DELETE" });
  }
  // 2026-07-28 has no GET stream and no session to delete
  if (method !== "POST" && isModernBodyless(c.req.raw.headers)) {
    return httpError(
      405,
      INVALID_REQUEST,
      `Method not allowed: protocol ${c.req.header("mcp-protocol-version")} uses POST only (subscriptions/listen replaces the GET stream)`,
      { allow: "POST" },
    );
  }

  const identity = c.get("identity");
  const db = mcpDb(c.env);
  const finishers: Promise<unknown>[] = [];
  const later = (p: Promise<unknown>) => void finishers.push(p.catch(() => {}));
  let streaming = false;
  const finish = async () => {
    while (finishers.length) await Promise.all(finishers.splice(0));
  };
  const abort = new AbortController();
  c.req.raw.signal?.addEventListener("abort", () => abort.abort());
  const catalogBinding = catalogFetcher(c.env);
  const ttl = env.MCP_CATALOG_TTL_MS;
  const x: Exchange = {
    c,
    env,
    scope,
    identity,
    db,
    catalogBinding,
    later,
    abort,
    streams: (done) => {
      streaming = true;
      c.executionCtx.waitUntil(done.then(finish));
    },
    load: (server?: string) =>
      server
        ? fetchUserServer(catalogBinding, identity.email, server, ttl)
        : fetchUserCatalog(catalogBinding, identity.email, ttl),
  };
  try {
    return await route(x);
  } catch (err) {
    if (!(err instanceof CatalogUnavailable)) throw err;
    log.error("catalog unavailable", { message: err.message });
    return httpError(503, INTERNAL_ERROR, "The gateway's catalog is unavailable; try again shortly");
  } finally {
    if (!streaming) c.executionCtx.waitUntil(finish());
  }
}

/**
 * A trace context in the message (`params._meta.traceparent`/`tracestate`, the 2026-07-28 trace
 * keys) continues the client's trace when the request carries no client `traceparent` header:
 * none at all (behind Traefik), or the edge's own root ({@link GATEWAY_ROOT_HEADER}). The mcp
 * request span then moves under the client's span, so the catalog calls and the upstream get the
 * client's trace; the edge's and auth's spans stay in the trace the edge started, named by
 * the span's `mcpgw.edge_trace_id`. A client's header wins over `_meta`, as the spec says.
 */
function continueMessageTrace(c: Ctx, body: unknown): void {
  const span = currentSpan();
  if (!span || !body || typeof body !== "object" || Array.isArray(body)) return;
  const meta = (body as { params?: { _meta?: unknown } }).params?._meta as Record<string, unknown> | undefined;
  if (!meta || typeof meta !== "object" || typeof meta.traceparent !== "string") return;
  const gatewayRoot = c.req.header(GATEWAY_ROOT_HEADER) === "1";
  if (!gatewayRoot && parseTraceparent(c.req.header("traceparent"))) return;
  const client = parseTraceparent(meta.traceparent, typeof meta.tracestate === "string" ? meta.tracestate : undefined);
  if (!client) return;
  if (gatewayRoot && span.parent) span.set("mcpgw.edge_trace_id", span.context.traceId);
  span.set("mcpgw.trace_source", "_meta").continueFrom(client);
}

async function route(x: Exchange): Promise<Response> {
  const { c, scope } = x;
  // The catalog decides first whether the endpoint exists for this caller at all. On /mcp a
  // POST loads it once it knows what the message needs (one server's part for a call).
  // the body is read first so that a trace context in it is in force before the first catalog call
  let body: unknown;
  let parsed = false;
  if (c.req.method === "POST") {
    try {
      body = JSON.parse(await c.req.text());
      parsed = true;
      continueMessageTrace(c, body);
    } catch {
      // answered below, after the endpoint check (as before)
    }
  }
  let catalog: UserCatalog | null = null;
  if (scope !== "*" || c.req.method !== "POST") catalog = await x.load(scope === "*" ? undefined : scope);
  if (catalog && scope !== "*" && !catalog.servers.some((s) => s.id === scope) && catalog.virtual?.id !== scope) {
    return httpError(403, INVALID_REQUEST, `Forbidden: you may not use server ${scope}`);
  }
  if (c.req.method === "GET") return sessionGet(x, catalog!);
  if (c.req.method === "DELETE") return sessionDelete(x, catalog!);

  if (!parsed) return httpError(400, PARSE_ERROR, "Parse error: the body is not JSON");
  const era = chooseEra(body, c.req.raw.headers);
  if (era.era === "refused")
    return httpError(era.refusal.status, era.refusal.code, era.refusal.message, {}, era.refusal.data, era.id);
  if (era.era === "modern") return statelessPost(x, era, catalog);
  return sessionPost(x, body, catalog);
}
