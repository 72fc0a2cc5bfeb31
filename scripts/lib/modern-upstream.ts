/**
 * A 2026-07-28 MCP upstream built with `@modelcontextprotocol/server` 2.x, served on loopback
 * over Node's http module: for the tests, the `npm start` demo (`modern`) and the conformance
 * runs. The definition (tools, resources, prompts) is in ./modern-upstream.server.ts.
 *
 * Eras (`eras` option):
 * - `modern` (default): 2026-07-28 only, statelessly (the SDK's `createMcpHandler`, legacy
 *   requests refused with -32022 naming the supported versions) - the upstream a gateway must
 *   still serve to session-era clients;
 * - `dual`: also the 2025 session era on the same endpoint, with real `Mcp-Session-Id` sessions
 *   (the SDK's `WebStandardStreamableHTTPServerTransport`, chosen per request with
 *   `isLegacyRequest`); there an `input_required` return becomes real server-to-client requests
 *   (the SDK's legacy shim) and `resources/subscribe` + notifications on the GET stream work;
 * - `dual-stateless`: the SDK's default legacy fallback (each 2025 request on a fresh instance,
 *   no sessions: no server-to-client requests);
 * - `legacy`: the 2025 session era only (a modern probe is refused like any request without a
 *   session, so clients fall back to `initialize`) - the session-era upstream of the 2025-11-25
 *   conformance run, from the same definitions.
 *
 * Sessions keep their SSE events (an in-memory event store) and announce a `retry` interval, so
 * a stream closed mid-call resumes with `Last-Event-ID` (SEP-1699, the `test_reconnection` tool).
 *
 *   const up = await startModernUpstream({ eras: "dual" });
 *   up.url                       // http://127.0.0.1:<port>/mcp
 *   up.requests                  // what it received (method, headers, body), newest last
 *   up.events.toolsChanged()     // publish a change to listen streams and legacy sessions
 *   await up.stop();
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createMcpHandler,
  hostHeaderValidationResponse,
  isInitializeRequest,
  isLegacyRequest,
  localhostAllowedHostnames,
  localhostAllowedOrigins,
  originValidationResponse,
  WebStandardStreamableHTTPServerTransport,
  type EventStore,
  type JSONRPCMessage,
  type McpServer,
} from "@modelcontextprotocol/server";
import {
  buildServer,
  newUpstreamState,
  WATCHED_URI,
  type UpstreamEvents,
  type UpstreamState,
} from "./modern-upstream.server";

export type UpstreamEras = "modern" | "dual" | "dual-stateless" | "legacy";

export interface ModernUpstreamOptions {
  /** Which protocol eras it answers. Default `modern`. */
  eras?: UpstreamEras;
  /** Port to listen on; default a free one. */
  port?: number;
  /** Address to bind. Default 127.0.0.1. */
  host?: string;
  /** HMAC key sealing `requestState` (>= 32 characters). Default: random per start. */
  stateKey?: string;
  /** Refuse requests whose Host or Origin is not loopback (DNS-rebinding guard). Default true. */
  checkHost?: boolean;
  /** Keep at most this many received requests in `requests`. Default 1000. */
  keepRequests?: number;
}

/** One HTTP request the upstream received. */
export interface SeenRequest {
  method: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The parsed JSON body (POST), or undefined. */
  body: unknown;
}

export interface ModernUpstream {
  url: string;
  port: number;
  eras: UpstreamEras;
  /** Shared state (added tools and prompts, the watched resource). */
  state: UpstreamState;
  /** Publishes change events to open `subscriptions/listen` streams and legacy sessions. */
  events: UpstreamEvents;
  requests: SeenRequest[];
  /** Session-era sessions open now (`dual` only). */
  sessionCount(): number;
  stop(): Promise<void>;
}

interface LegacySession {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
  sync: () => void;
  subscribed: Set<string>;
}

/** Session-era SSE events kept in memory (bounded), for resumption with Last-Event-ID. */
function memoryEventStore(max = 10_000): EventStore {
  const events = new Map<string, { streamId: string; message: JSONRPCMessage }>();
  let seq = 0;
  return {
    async storeEvent(streamId, message) {
      const id = `${streamId}::${String(++seq).padStart(12, "0")}`;
      events.set(id, { streamId, message });
      if (events.size > max) events.delete(events.keys().next().value!);
      return id;
    },
    async getStreamIdForEventId(eventId) {
      return events.get(eventId)?.streamId;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const streamId = events.get(lastEventId)?.streamId ?? lastEventId.split("::")[0]!;
      for (const [id, e] of events) if (e.streamId === streamId && id > lastEventId) await send(id, e.message);
      return streamId;
    },
  };
}

/**
 * The session's negotiated version as the request's MCP-Protocol-Version when the header names
 * another one: the version of a session is the one `initialize` negotiated (2025-11-25 says a
 * client MUST send that one). The SDK decides by the header whether a stream may start with an
 * empty priming event (SEP-1699, from 2025-11-25); the 0.1.16 conformance suite sends
 * `2025-03-26` on a 2025-11-25 session and expects the priming event.
 */
function withSessionVersion(request: Request, negotiated: string | undefined): Request {
  const sent = request.headers.get("mcp-protocol-version");
  if (!negotiated || !sent || sent === negotiated) return request;
  const headers = new Headers(request.headers);
  headers.set("mcp-protocol-version", negotiated);
  return new Request(request, { headers });
}

function jsonRpcError(status: number, code: number, message: string, id: unknown = null): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", id, error: { code, message } }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A web Request for a node request whose body was read already; aborted when the client goes away. */
function toWebRequest(req: IncomingMessage, res: ServerResponse, body: Buffer, origin: string): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else if (v !== undefined) headers.set(k, v);
  }
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  const method = req.method ?? "GET";
  return new Request(new URL(req.url ?? "/", origin), {
    method,
    headers,
    body: method === "GET" || method === "HEAD" ? undefined : new Uint8Array(body),
    signal: abort.signal,
  });
}

async function writeWebResponse(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((v, k) => (headers[k] = v));
  res.writeHead(response.status, headers);
  if (!response.body) return void res.end();
  const reader = response.body.getReader();
  res.on("close", () => void reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      res.write(value);
    }
  } catch {
    // the client went away, or the handler aborted the stream
  }
  res.end();
}

/**
 * Serves a web-standard handler over node:http on `host:port` (port 0 or unset: a free one). The
 * handler gets the request (aborted when the client goes away) and its raw body, already read.
 */
export async function listenFetch(
  handler: (request: Request, raw: Buffer) => Promise<Response>,
  opts: { host?: string; port?: number } = {},
): Promise<{ port: number; close(): Promise<void> }> {
  const http = createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const origin = `http://${req.headers.host ?? "127.0.0.1"}`;
      let response: Response;
      try {
        response = await handler(toWebRequest(req, res, raw, origin), raw);
      } catch (err) {
        response = jsonRpcError(500, -32603, `internal error: ${(err as Error).message}`);
      }
      await writeWebResponse(response, res);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  return {
    port: (http.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        http.close(() => r());
        http.closeAllConnections();
      }),
  };
}

/** Starts the upstream; resolves when it listens. */
export async function startModernUpstream(opts: ModernUpstreamOptions = {}): Promise<ModernUpstream> {
  const eras = opts.eras ?? "modern";
  const stateKey = opts.stateKey ?? randomUUID() + randomUUID();
  const keep = opts.keepRequests ?? 1000;
  const state = newUpstreamState();
  const sessions = new Map<string, LegacySession>();
  const requests: SeenRequest[] = [];
  const eventStore = memoryEventStore();

  // change events go to both eras: the SDK's listen router (modern) and each legacy session
  let notifyModern: UpstreamEvents | undefined;
  const events: UpstreamEvents = {
    toolsChanged() {
      notifyModern?.toolsChanged();
      for (const s of sessions.values()) s.sync();
    },
    promptsChanged() {
      notifyModern?.promptsChanged();
      for (const s of sessions.values()) s.sync();
    },
    resourcesChanged() {
      notifyModern?.resourcesChanged();
      for (const s of sessions.values()) s.server.sendResourceListChanged();
    },
    resourceUpdated(uri: string) {
      notifyModern?.resourceUpdated(uri);
      for (const s of sessions.values())
        if (s.subscribed.has(uri)) void s.server.server.sendResourceUpdated({ uri }).catch(() => {});
    },
  };

  const handler = createMcpHandler(({ era }) => buildServer({ state, events, stateKey, era }).server, {
    legacy: eras === "dual-stateless" ? "stateless" : "reject",
    onerror: () => {},
  });
  notifyModern = {
    toolsChanged: () => handler.notify.toolsChanged(),
    promptsChanged: () => handler.notify.promptsChanged(),
    resourcesChanged: () => handler.notify.resourcesChanged(),
    resourceUpdated: (uri) => handler.notify.resourceUpdated(uri),
  };

  async function legacy(request: Request, parsedBody: unknown): Promise<Response> {
    const sid = request.headers.get("mcp-session-id");
    if (sid) {
      const s = sessions.get(sid);
      if (!s) return jsonRpcError(404, -32001, "Session not found");
      return s.transport.handleRequest(withSessionVersion(request, s.server.server.getNegotiatedProtocolVersion()), {
        parsedBody,
      });
    }
    if (request.method !== "POST" || !isInitializeRequest(parsedBody))
      return jsonRpcError(400, -32000, "Bad Request: no valid session id (initialize first)");
    const subscribed = new Set<string>();
    const built = buildServer({ state, events, stateKey, era: "legacy", subscribed });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore,
      retryInterval: 500,
      onsessioninitialized: (id) =>
        void sessions.set(id, { transport, server: built.server, sync: built.sync, subscribed }),
      onsessionclosed: (id) => void sessions.delete(id),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await built.server.connect(transport);
    return transport.handleRequest(request, { parsedBody });
  }

  async function serve(request: Request, raw: Buffer): Promise<Response> {
    if (opts.checkHost ?? true) {
      const refused =
        hostHeaderValidationResponse(request, localhostAllowedHostnames()) ??
        originValidationResponse(request, localhostAllowedOrigins());
      if (refused) return refused;
    }
    if (new URL(request.url).pathname !== "/mcp") return new Response("not found", { status: 404 });
    let parsedBody: unknown;
    if (raw.length) {
      try {
        parsedBody = JSON.parse(raw.toString("utf8"));
      } catch {
        parsedBody = undefined;
      }
    }
    requests.push({ method: request.method, headers: Object.fromEntries(request.headers), body: parsedBody });
    if (requests.length > keep) requests.splice(0, requests.length - keep);
    if (eras === "legacy" || (eras === "dual" && (await isLegacyRequest(request.clone()))))
      return legacy(request, parsedBody);
    return handler.fetch(request);
  }

  const host = opts.host ?? "127.0.0.1";
  const http = await listenFetch((request, raw) => serve(request, raw), { host, port: opts.port });
  const port = http.port;
  return {
    url: `http://${host}:${port}/mcp`,
    port,
    eras,
    state,
    events,
    requests,
    sessionCount: () => sessions.size,
    async stop() {
      await handler.close().catch(() => {});
      for (const s of sessions.values()) await s.transport.close().catch(() => {});
      sessions.clear();
      await http.close();
    },
  };
}

export { WATCHED_URI };
