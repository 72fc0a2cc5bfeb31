/**
 * Forwarding to an upstream on the deprecated HTTP+SSE transport (protocol 2024-11-05): the
 * session lives as long as its GET event stream, which a stateless worker cannot keep between
 * requests. So each forwarded request runs in a session of its own: open the stream, learn the
 * message endpoint, initialize (with the client's capabilities), post the request, relay what
 * arrives until its response, close. Upstream state (subscriptions, log level) does not carry over
 * between requests; server-to-client requests made while the request runs are answered by posting
 * to that session's endpoint, which the reply address carries. No request follows a redirect (it
 * would carry the server's stored secret headers elsewhere).
 */
import { classify, rpcError, UPSTREAM_ERROR, type JsonRpcRequest } from "../../../../shared/mcp/jsonrpc";
import { parseSse, SseTooLarge, type SseEvent } from "../../../../shared/mcp/sse";
import { log } from "../../../../shared/log";
import { storedHeaders, UpstreamFailure, type UpstreamTarget } from "./http";
import { legacyCaps } from "./session.upstream";
import type { Relay, Upstream, UpstreamCall } from "./upstream";

/** The protocol version of HTTP+SSE sessions (the reply address's `uv`). */
export const LEGACY_SSE_VERSION = "2024-11-05";

function headersFor(server: UpstreamTarget, extra: Record<string, string>): Headers {
  const h = storedHeaders(server);
  for (const [k, v] of Object.entries(extra)) h.set(k, v);
  return h;
}

/** Posts one message to a legacy session's endpoint; resolves with the HTTP status (0 on network failure or a redirect). */
export async function postLegacy(
  server: UpstreamTarget,
  endpoint: string,
  message: unknown,
  timeoutMs: number,
): Promise<number> {
  // the endpoint must stay on the upstream's origin (it came from the upstream's own stream)
  if (new URL(endpoint).origin !== new URL(server.url).origin) return 0;
  try {
    const res = await fetch(endpoint, {
      method: "POST",
      headers: headersFor(server, { "content-type": "application/json" }),
      body: JSON.stringify(message),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
    });
    await res.body?.cancel().catch(() => {});
    return res.status >= 300 && res.status < 400 ? 0 : res.status;
  } catch {
    return 0;
  }
}

export const legacySseUpstream: Upstream = {
  async *send(call, req) {
    try {
      yield* forwardLegacy(call, req);
    } catch (err) {
      if (!(err instanceof UpstreamFailure)) throw err;
      if (err.status === 401) call.unauthorized?.();
      log.warn("upstream failure", { server: call.server.id, method: req.method, message: err.message });
      call.failed();
      yield {
        kind: "response",
        message: rpcError(req.id, UPSTREAM_ERROR, `Upstream ${call.server.id} failed: ${err.message}`),
      };
    }
  },
};

/** Runs `req` in a fresh legacy session and yields what comes for it (the response last). */
async function* forwardLegacy(call: UpstreamCall, req: JsonRpcRequest): AsyncGenerator<Relay> {
  const server = call.target;
  const opts = {
    capabilities: legacyCaps(call.client.caps),
    clientInfo: call.client.info,
    timeoutMs: call.limits.timeoutMs,
    signal: call.signal,
  };
  call.onAnswer?.(false);
  const ctl = new AbortController();
  let reason = "";
  const abort = (why: string) => {
    reason ||= why;
    ctl.abort();
  };
  const onClient = () => abort("client disconnected");
  opts.signal.addEventListener("abort", onClient);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => abort(`silent for ${opts.timeoutMs} ms`), opts.timeoutMs);
  };
  try {
    arm();
    let res: Response;
    try {
      res = await fetch(server.url, {
        headers: headersFor(server, { accept: "text/event-stream" }),
        signal: ctl.signal,
        redirect: "manual",
      });
    } catch (err) {
      throw new UpstreamFailure(
        server.id,
        reason
          ? `upstream ${server.id}: ${reason}`
          : `upstream ${server.id} unreachable: ${String((err as Error)?.message ?? err)}`,
      );
    }
    if (!res.ok || !res.body || !(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      await res.body?.cancel().catch(() => {});
      throw new UpstreamFailure(
        server.id,
        `upstream ${server.id} refused its SSE stream (HTTP ${res.status})`,
        res.status,
      );
    }
    const events: AsyncGenerator<SseEvent> = parseSse(res.body, ctl.signal, call.limits.maxMessageBytes);
    const next = async (): Promise<SseEvent> => {
      const r = await events.next().catch((err) => {
        if (err instanceof SseTooLarge)
          throw new UpstreamFailure(
            server.id,
            `upstream ${server.id} sent a message larger than ${err.limit} bytes (MAX_UPSTREAM_MESSAGE_BYTES)`,
          );
        return { done: true as const, value: undefined };
      });
      if (r.done) throw new UpstreamFailure(server.id, `upstream ${server.id}: ${reason || "stream ended early"}`);
      arm();
      return r.value;
    };
    let first = await next();
    while (first.event !== "endpoint") first = await next();
    const endpoint = new URL(first.data.trim(), server.url).toString();
    const post = async (m: unknown) => {
      const status = await postLegacy(server, endpoint, m, opts.timeoutMs);
      if (status < 200 || status > 299)
        throw new UpstreamFailure(
          server.id,
          `upstream ${server.id} refused a message (HTTP ${status || "unreachable"})`,
          status,
        );
    };
    const initId = `mcpgw-init-${crypto.randomUUID()}`;
    await post({
      jsonrpc: "2.0",
      id: initId,
      method: "initialize",
      params: {
        protocolVersion: LEGACY_SSE_VERSION,
        capabilities: opts.capabilities,
        clientInfo: opts.clientInfo ?? { name: "mcp-gateway", version: "0.1.0" },
      },
    });
    for (;;) {
      const ev = await next();
      if (ev.event !== "message") continue;
      const c = classify(safeJson(ev.data));
      if (c.kind === "response" && c.message.id === initId) {
        if (c.message.error)
          throw new UpstreamFailure(server.id, `upstream ${server.id} refused initialize: ${c.message.error.message}`);
        break;
      }
    }
    await post({ jsonrpc: "2.0", method: "notifications/initialized" });
    await post(req);
    for (;;) {
      const ev = await next();
      if (ev.event !== "message") continue;
      const c = classify(safeJson(ev.data));
      if (c.kind === "invalid")
        throw new UpstreamFailure(server.id, `upstream ${server.id} sent an invalid JSON-RPC message (${c.reason})`);
      if (c.kind === "response") {
        if (c.message.id === req.id) {
          yield { kind: "response", message: c.message };
          return;
        }
        continue;
      }
      const at = { server: server.id, via: "legacy-sse" as const, usid: endpoint, uv: LEGACY_SSE_VERSION };
      if (c.kind === "request") yield { kind: "request", message: c.message, at };
      else yield { kind: "notification", message: c.message, at };
    }
  } finally {
    if (timer) clearTimeout(timer);
    opts.signal.removeEventListener("abort", onClient);
    abort("done");
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
