/**
 * One MCP request, answered as the gateway, whatever era it came in: list methods from the
 * user's catalog (no upstream contact), everything naming a tool, prompt or resource checked
 * against that catalog and then forwarded through the bridge to the right upstream, and what the
 * upstream sends back relayed as it arrives.
 *
 * A hidden item and a missing one take the same path (the lookup only knows visible items), so
 * they fail with the same error under every spelling, in both eras.
 */
import { log } from "../../../../shared/log";
import { mcpRequests, toolCalls, toolDuration } from "../../../../shared/observe/families";
import { currentSpan } from "../../../../shared/observe/trace";
import {
  rpcError,
  hasControlCharacters,
  INVALID_PARAMS,
  isResponse,
  METHOD_NOT_FOUND,
  RESOURCE_NOT_FOUND,
  resultResponse,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../../../../shared/mcp/jsonrpc";
import { SUPPORTED_VERSIONS } from "../../../../shared/mcp/versions";
import { recordToolCall } from "../audit";
import { forgetSessionLevel, forward, type Outgoing } from "../bridge/bridge";
import { itemUnderReview, reviewRefusals, underReview } from "../bridge/pin";
import { openTaskId } from "../tokens";
import { isAggregate, scopedServers, type CatalogServer, type UserCatalog } from "../catalog.client";
import type { RequestContext } from "./context";
import { cacheHints, listedItems, type ListKind } from "./lists";
import { namedItems } from "./names";
import { listPage } from "./pagination";
import { findResourceServer, findTemplateServer, heldResource, isHeld } from "./resources";
import { discoverResult } from "./server-info";

/** Methods of the session era only (removed in 2026-07-28). */
const LEGACY_ONLY = new Set([
  "ping",
  "logging/setLevel",
  "resources/subscribe",
  "resources/unsubscribe",
  "tasks/result",
  "tasks/list",
]);
/** Methods of the modern era only. */
/** MCP methods counted by name in mcpgw_mcp_requests_total (anything else is `other`). */
const KNOWN_METHODS = new Set([
  "initialize",
  "ping",
  "server/discover",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "completion/complete",
  "logging/setLevel",
  "subscriptions/listen",
  "tasks/get",
  "tasks/result",
  "tasks/list",
  "tasks/cancel",
  "tasks/update",
]);
const MODERN_ONLY = new Set(["server/discover", "tasks/update"]);
/** Task methods, forwarded to the server that owns the task. */
const TASK_METHODS = new Set(["tasks/get", "tasks/result", "tasks/list", "tasks/cancel", "tasks/update"]);

export class Dispatcher {
  constructor(private readonly ctx: RequestContext) {}

  private get scope() {
    return this.ctx.scope;
  }

  private get modern() {
    return this.ctx.client.era === "modern";
  }

  /** The servers this endpoint shows: all of the user's on /mcp, the one on /mcp/<server>. */
  visibleServers(): CatalogServer[] {
    return scopedServers(this.ctx.catalog, this.scope);
  }

  private server(id: string): CatalogServer | undefined {
    return this.visibleServers().find((s) => s.id === id);
  }

  /**
   * Answers one request; yields relayed notifications/requests first, its response last. Counts
   * it in mcpgw_mcp_requests_total (method from a fixed list, else `other`) and names it on the
   * request's span.
   */
  async *handle(req: JsonRpcRequest): AsyncGenerator<Outgoing> {
    const method = KNOWN_METHODS.has(req.method) ? req.method : "other";
    const span = currentSpan();
    span
      ?.set("mcp.method", method)
      .set("mcp.endpoint", this.scope === "*" ? "all" : this.scope)
      .set("mcp.era", this.ctx.client.era);
    let outcome = "no_response";
    try {
      for await (const m of this.answer(req)) {
        if ("jsonrpc" in m && isResponse(m) && m.id === req.id) outcome = m.error ? "error" : "ok";
        yield m;
      }
    } finally {
      mcpRequests.inc({ method, endpoint: this.scope === "*" ? "all" : "server", era: this.ctx.client.era, outcome });
    }
  }

  private async *answer(req: JsonRpcRequest): AsyncGenerator<Outgoing> {
    const p = req.params ?? {};
    if ((this.modern && LEGACY_ONLY.has(req.method)) || (!this.modern && MODERN_ONLY.has(req.method))) {
      return yield rpcError(
        req.id,
        METHOD_NOT_FOUND,
        `Method not found: ${req.method} is not part of protocol ${this.ctx.client.version}`,
      );
    }
    switch (req.method) {
      case "ping":
        return yield resultResponse(req.id, {});
      case "server/discover":
        return yield resultResponse(
          req.id,
          discoverResult(this.ctx.catalog, this.scope, SUPPORTED_VERSIONS, this.ctx.env.MCP_LIST_TTL_MS),
        );
      case "tools/list":
        return yield this.list(req, "tools");
      case "prompts/list":
        return yield this.list(req, "prompts");
      case "resources/list":
        return yield this.list(req, "resources");
      case "resources/templates/list":
        return yield this.list(req, "resourceTemplates");
      case "tools/call":
        return yield* this.callTool(req);
      case "prompts/get": {
        const name = p.name;
        if (typeof name !== "string" || hasControlCharacters(name))
          return yield rpcError(req.id, INVALID_PARAMS, "params.name must be a string without control characters");
        const hit = namedItems(this.ctx.catalog, this.scope, "prompts").get(name);
        if (!hit) return yield rpcError(req.id, INVALID_PARAMS, `Prompt ${name} not found`);
        if (isHeld(hit.server, "prompt", hit.upstreamName)) return yield itemUnderReview(req.id, `Prompt ${name}`);
        return yield* forward(this.ctx, hit.server, { ...req, params: { ...p, name: hit.upstreamName } });
      }
      case "resources/read":
      case "resources/subscribe":
      case "resources/unsubscribe": {
        const uri = p.uri;
        if (typeof uri !== "string" || hasControlCharacters(uri))
          return yield rpcError(req.id, INVALID_PARAMS, "params.uri must be a string without control characters");
        const server = findResourceServer(this.visibleServers(), uri);
        if (!server) return yield this.resourceNotFound(req, uri);
        if (heldResource(server, uri)) return yield itemUnderReview(req.id, `Resource ${uri}`);
        return yield* forward(this.ctx, server, req);
      }
      case "completion/complete":
        return yield* this.complete(req);
      case "logging/setLevel":
        return yield* this.setLevel(req);
      default:
        if (TASK_METHODS.has(req.method)) return yield* this.task(req);
        yield rpcError(req.id, METHOD_NOT_FOUND, `Method not found: ${req.method}`);
    }
  }

  /** Resource not found: -32602 in the modern era, -32002 before (spec 2026-07-28 changelog). */
  private resourceNotFound(req: JsonRpcRequest, uri: string): JsonRpcResponse {
    return rpcError(req.id, this.modern ? INVALID_PARAMS : RESOURCE_NOT_FOUND, "Resource not found", { uri });
  }

  /**
   * A list from the catalog, one page. On `/mcp`, servers whose last refresh failed drop out of
   * lists (with a warning) so one broken upstream does not offer tools that cannot work; their
   * items stay callable, so a call gets the upstream's error rather than "unknown". Modern
   * answers carry cache hints: the list is the user's own (`cacheScope: "private"`).
   */
  private list(req: JsonRpcRequest, kind: ListKind): JsonRpcResponse {
    const failing = isAggregate(this.ctx.catalog, this.scope)
      ? this.ctx.catalog.servers.filter((s) => s.status?.ok === false).map((s) => s.id)
      : [];
    if (failing.length && !req.params?.cursor)
      log.warn("servers left out of a list: their upstream is failing", { kind, servers: failing });
    const page = listPage(
      listedItems(this.ctx.catalog, this.scope, kind, failing),
      req.params?.cursor,
      this.ctx.env.MCP_PAGE_SIZE,
    );
    if (!page) return rpcError(req.id, INVALID_PARAMS, "Invalid cursor");
    return resultResponse(req.id, {
      [kind]: page.items,
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      ...(this.modern ? cacheHints(this.ctx.env.MCP_LIST_TTL_MS) : {}),
    });
  }

  private async *callTool(req: JsonRpcRequest): AsyncGenerator<Outgoing> {
    const p = req.params ?? {};
    const started = Date.now();
    const name = p.name;
    if (typeof name !== "string" || hasControlCharacters(name)) {
      this.audit(
        isAggregate(this.ctx.catalog, this.scope) ? null : this.scope,
        typeof name === "string" ? name : String(name),
        "denied",
        started,
      );
      return yield rpcError(req.id, INVALID_PARAMS, "params.name must be a string without control characters");
    }
    const hit = namedItems(this.ctx.catalog, this.scope, "tools").get(name);
    if (!hit) {
      this.audit(isAggregate(this.ctx.catalog, this.scope) ? null : this.scope, name, "denied", started);
      return yield rpcError(req.id, INVALID_PARAMS, `Unknown tool: ${name}`);
    }
    // Reviewed definitions: the catalog's last listing of the upstream has another definition
    // than the approved one, so what it would run is not what an admin approved (nor what the
    // client was shown). Refused as a tool error, in both eras, before anything reaches the
    // upstream. A change the catalog has not seen yet is caught by the bridge's pin check
    // (bridge/pin.ts), which lists the tool upstream before forwarding.
    if (hit.server.held?.includes(hit.upstreamName)) {
      this.audit(hit.server.id, hit.upstreamName, "denied", started);
      return yield underReview(req.id, name);
    }
    // no response on this stream: the client resumes it (session era), or it never came
    let outcome: "ok" | "error" | "denied" | "resumed" = this.ctx.signal.aborted ? "error" : "resumed";
    let answered = false;
    try {
      for await (const m of forward(this.ctx, hit.server, { ...req, params: { ...p, name: hit.upstreamName } })) {
        if ("jsonrpc" in m && isResponse(m) && m.id === req.id) {
          answered = true;
          // refused by the pin check: named as the client called it, audited as a refusal
          if (reviewRefusals.has(m)) {
            outcome = "denied";
            yield underReview(req.id, name);
            continue;
          }
          outcome = m.error || m.result?.isError === true ? "error" : "ok";
        }
        yield m;
      }
    } finally {
      if (!answered && this.ctx.signal.aborted) outcome = "error";
      this.audit(hit.server.id, hit.upstreamName, outcome, started);
    }
  }

  private audit(server: string | null, tool: string, outcome: "ok" | "error" | "denied" | "resumed", started: number) {
    // metric labels: a known server's id and the upstream's tool name; a refused name is the
    // client's own text and never becomes a label
    const known = outcome !== "denied" && server !== null;
    toolCalls.inc({ server: known ? server : "-", tool: known ? tool : "-", outcome });
    if (known) {
      toolDuration.observe({ server, tool }, (Date.now() - started) / 1000);
      currentSpan()?.set("mcp.server", server).set("mcp.tool", tool);
    }
    this.ctx.later(
      recordToolCall(this.ctx.db, {
        actor: this.ctx.identity.email,
        server,
        tool,
        outcome,
        durationMs: Date.now() - started,
      }),
    );
  }

  private async *complete(req: JsonRpcRequest): AsyncGenerator<Outgoing> {
    const p = req.params ?? {};
    const ref = p.ref as Record<string, unknown> | undefined;
    if (!ref || typeof ref !== "object") return yield rpcError(req.id, INVALID_PARAMS, "params.ref must be an object");
    if (ref.type === "ref/prompt") {
      const name = ref.name;
      if (typeof name !== "string" || hasControlCharacters(name))
        return yield rpcError(req.id, INVALID_PARAMS, "params.ref.name must be a string without control characters");
      const hit = namedItems(this.ctx.catalog, this.scope, "prompts").get(name);
      if (!hit) return yield rpcError(req.id, INVALID_PARAMS, `Prompt ${name} not found`);
      if (isHeld(hit.server, "prompt", hit.upstreamName)) return yield itemUnderReview(req.id, `Prompt ${name}`);
      return yield* forward(this.ctx, hit.server, {
        ...req,
        params: { ...p, ref: { ...ref, name: hit.upstreamName } },
      });
    }
    if (ref.type === "ref/resource") {
      const uri = ref.uri;
      if (typeof uri !== "string" || hasControlCharacters(uri))
        return yield rpcError(req.id, INVALID_PARAMS, "params.ref.uri must be a string without control characters");
      const server = findTemplateServer(this.visibleServers(), uri);
      if (!server) return yield rpcError(req.id, INVALID_PARAMS, `Resource template ${uri} not found`);
      if (isHeld(server, "resource_template", uri) || isHeld(server, "resource", uri))
        return yield itemUnderReview(req.id, `Resource template ${uri}`);
      return yield* forward(this.ctx, server, req);
    }
    yield rpcError(req.id, INVALID_PARAMS, "params.ref.type must be ref/prompt or ref/resource");
  }

  /**
   * logging/setLevel of a session-era client: the session's level (modern upstreams get it as the
   * per-request logLevel; see bridge.ts), and forwarded to the session-era upstreams that log.
   */
  private async *setLevel(req: JsonRpcRequest): AsyncGenerator<Outgoing> {
    const level = req.params?.level;
    if (typeof level !== "string" || !LOG_LEVELS.has(level))
      return yield rpcError(req.id, INVALID_PARAMS, `params.level must be one of ${[...LOG_LEVELS].join(", ")}`);
    if (this.ctx.session) {
      await this.ctx.db.run("setSessionLevel", this.ctx.session.sid, level);
      forgetSessionLevel(this.ctx.session.sid);
    }
    const targets = this.visibleServers().filter((s) => s.capabilities?.logging !== undefined && s.era !== "modern");
    const failures: string[] = [];
    await Promise.all(
      targets.map(async (s) => {
        for await (const m of forward(this.ctx, s, req))
          if ("jsonrpc" in m && isResponse(m) && m.error) failures.push(`${s.id}: ${m.error.message}`);
      }),
    );
    if (failures.length) log.warn("logging/setLevel failed on some upstreams", { failures });
    yield resultResponse(req.id, {});
  }

  /**
   * Task methods: the task id the client holds names the server and the user (the gateway sealed
   * it when the task was created), so a task is reachable only by its owner, on an endpoint that
   * shows its server. `tasks/list` (session era) is answered by the one server of `/mcp/<server>`.
   */
  private async *task(req: JsonRpcRequest): AsyncGenerator<Outgoing> {
    const p = req.params ?? {};
    if (req.method === "tasks/list") {
      const only = !isAggregate(this.ctx.catalog, this.scope) ? this.server(this.scope) : undefined;
      if (!only) return yield resultResponse(req.id, { tasks: [] });
      return yield* forward(this.ctx, only, req);
    }
    const t = await openTaskId(this.ctx.env.SESSION_SECRET, p.taskId);
    const server = t && t.email === this.ctx.identity.email.toLowerCase() ? this.server(t.server) : undefined;
    if (!t || !server) return yield rpcError(req.id, INVALID_PARAMS, "Unknown task");
    return yield* forward(this.ctx, server, { ...req, params: { ...p, taskId: t.id } });
  }
}

/** RFC 5424 levels (MCP logging). */
export const LOG_LEVELS = new Set(["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]);

/** Whether a catalog grants anything on an endpoint. */
export function endpointServers(catalog: UserCatalog, scope: string): CatalogServer[] {
  return scopedServers(catalog, scope);
}
