/**
 * One request as the dispatcher sees it, whichever era it arrived in: the downstream adapters
 * (downstream/session.transport.ts, downstream/stateless.transport.ts) build it, the dispatcher
 * and the upstream adapters read it. Nothing here is shared between users.
 */
import type { Identity } from "../../../../shared/identity";
import type { JsonRpcResponse } from "../../../../shared/mcp/jsonrpc";
import type { CatalogServer, UserCatalog } from "../catalog.client";
import type { McpDb } from "../db";
import type { McpEnv } from "../env";
import type { SessionState } from "../tokens";
import type { ExchangeLimits, UpstreamTarget } from "../upstream/http";
import type { ReplyTo, Upstream } from "../upstream/upstream";
import type { ClientView } from "./client";

export type { ClientView };

export interface RequestContext {
  env: McpEnv;
  identity: Identity;
  /** The endpoint: a server id (`/mcp/<server>`) or "*" (`/mcp`). */
  scope: string;
  /** The caller's catalog: only what they may use. Shared by the isolate's requests: never modify it. */
  catalog: UserCatalog;
  db: McpDb;
  catalogBinding: Fetcher;
  /** Registers work to finish after the response (audit, notifications to upstreams). */
  later: (p: Promise<unknown>) => void;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  client: ClientView;
  /** The session-era downstream session the request belongs to. */
  session?: SessionState;
  /** See UpstreamCall.onAnswer. */
  onUpstreamAnswer?: (json: boolean) => void;
  /**
   * The upstream adapters and where answers to server-to-client requests go. Unset: the real ones
   * (upstream/*.upstream.ts). Unit tests set in-memory upstreams here.
   */
  upstreams?: UpstreamSet;
}

export interface UpstreamSet {
  of(server: CatalogServer): Upstream;
  answer(target: UpstreamTarget, reply: ReplyTo, message: JsonRpcResponse, limits: ExchangeLimits): Promise<number>;
}
