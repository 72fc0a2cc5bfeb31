/**
 * The upstream side behind one interface: whatever era and transport a server speaks, the
 * dispatcher sends it a request and reads back what comes for it - notifications, server-to-client
 * requests (session-era servers), resumption markers, the response last. Three adapters:
 * - modern.upstream.ts: 2026-07-28, stateless (per-request `_meta`, standard headers, MRTR);
 * - session.upstream.ts: Streamable HTTP 2025-03-26 .. 2025-11-25 with upstream sessions;
 * - legacy-sse.upstream.ts: the deprecated HTTP+SSE transport (2024-11-05).
 * Which one serves a server comes from the catalog (its era and transport, remembered per server).
 */
import type { Identity } from "../../../../shared/identity";
import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from "../../../../shared/mcp/jsonrpc";
import { isModernVersion } from "../../../../shared/mcp/versions";
import type { CatalogServer } from "../catalog.client";
import type { McpDb } from "../db";
import type { ClientView } from "../dispatch/client";
import type { McpEnv } from "../env";
import type { ExchangeLimits, UpstreamTarget } from "./http";

/** Where the answer to a server-to-client request goes: sealed into the id the client sees. */
export interface ReplyTo {
  server: string;
  /** `session`: a session-era Streamable HTTP session; `legacy-sse`: an HTTP+SSE message endpoint. */
  via: "session" | "legacy-sse";
  /** Upstream session id, or the HTTP+SSE endpoint URL. */
  usid: string | null;
  /** Protocol version of that session. */
  uv: string;
}

/**
 * What an upstream sends back for one request, in order; the response ends it. `at` is the
 * upstream session it came from (session-era upstreams): where an answer or a resumption goes.
 * Plain data: a relay may be posted to a mailbox (bridge/mailbox.ts) and read on another replica.
 */
export type Relay =
  | { kind: "notification"; message: JsonRpcNotification; eventId?: string; at?: ReplyTo }
  /** A server-to-client request (sampling, elicitation, roots, ...) made while the request runs. */
  | { kind: "request"; message: JsonRpcRequest; at: ReplyTo; eventId?: string }
  /** A priming event or retry hint of a resumable session-era stream. */
  | { kind: "marker"; eventId?: string; retry?: number; at?: ReplyTo }
  | { kind: "response"; message: JsonRpcResponse; eventId?: string; at?: ReplyTo };

/** What an adapter needs to know about the request it forwards. */
export interface UpstreamCall {
  /** The server as the catalog lists it (its tools, era, capabilities). */
  server: CatalogServer;
  /** Where requests go, with the server's secret headers (credentials.ts#upstreamTarget). */
  target: UpstreamTarget;
  client: ClientView;
  identity: Identity;
  env: McpEnv;
  db: McpDb;
  limits: ExchangeLimits;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  later: (p: Promise<unknown>) => void;
  /** The downstream session id of a session-era client (its upstream sessions are its own). */
  sid?: string;
  /** Told, once the upstream's response headers are in, whether it answered with JSON (nothing but the response can come). */
  onAnswer?: (json: boolean) => void;
  /** The server failed (network, status): the catalog should re-list it. */
  failed: () => void;
  /** The upstream answered 401 (per-user servers: the bridge refreshes the user's token once, then asks them to connect). */
  unauthorized?: () => void;
}

export interface Upstream {
  /** Sends one request; yields what comes for it, the response last (an error response when the upstream failed). */
  send(call: UpstreamCall, req: JsonRpcRequest): AsyncGenerator<Relay>;
}

/**
 * Which adapter serves a server: the transport the catalog found it speaking (else the configured
 * one), then its era as the catalog detected it (else what its protocol version says).
 */
export function upstreamKind(
  server: Pick<CatalogServer, "transport" | "detectedTransport" | "era" | "protocolVersion">,
): "modern" | "session" | "legacy-sse" {
  if ((server.detectedTransport ?? server.transport) === "sse") return "legacy-sse";
  if (server.era === "modern" || (server.era == null && isModernVersion(server.protocolVersion))) return "modern";
  return "session";
}
