/**
 * One HTTP exchange with an upstream MCP endpoint (Streamable HTTP, either era), for a proxy: the
 * message goes as it is, the target's secret headers are injected (never the client's
 * credentials; an {@link UpstreamTarget} carries them, credentials.ts#upstreamTarget makes one), the gateway sets every protocol header itself, redirects are never followed (a
 * redirect would carry the stored secrets elsewhere), a timeout bounds the wait for the response
 * headers and each silence on a stream, and the answer's messages are handed back one by one as
 * they arrive, each with its SSE event id when the upstream gave one (so a broken stream can be
 * resumed with `Last-Event-ID`).
 */
import { connect } from "cloudflare:sockets";
import { diagnoseFetchError, NOT_MCP_HINT } from "../../../../shared/upstream-diagnosis";
import { classify, type JsonRpcMessage } from "../../../../shared/mcp/jsonrpc";
import { parseSse, SseTooLarge } from "../../../../shared/mcp/sse";
import { readAtMost } from "../../../../shared/streams";
import { upstreamDuration, upstreamRequests } from "../../../../shared/observe/families";
import { startSpan, traceHeaders } from "../../../../shared/observe/trace";

/** Where to send, and the secret headers to send with it (credentials.ts#upstreamTarget). */
export interface UpstreamTarget {
  id: string;
  url: string;
  transport: "streamable-http" | "sse";
  /** The server's secret headers, injected into every request to it (protocol headers excepted). */
  headers: Readonly<Record<string, string>>;
}

/** Why an upstream exchange failed, in words fit for a JSON-RPC error message. */
export class UpstreamFailure extends Error {
  constructor(
    readonly server: string,
    message: string,
    /** HTTP status when the upstream answered one. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Headers the gateway controls; a stored secret header may not override them. */
const PROTOCOL_HEADERS =
  /^(content-type|accept|content-length|host|mcp-session-id|mcp-protocol-version|mcp-method|mcp-name|mcp-param-.*|last-event-id|traceparent|tracestate)$/i;

/** The target's secret headers, without any that would override a protocol header. */
export function storedHeaders(target: Pick<UpstreamTarget, "headers">): Headers {
  const h = new Headers();
  for (const [name, value] of Object.entries(target.headers)) if (!PROTOCOL_HEADERS.test(name)) h.set(name, value);
  return h;
}

/** Limits of one exchange (one object per forwarded request: the bridge raises `timeoutMs` of a parked exchange). */
export interface ExchangeLimits {
  /**
   * Time to the response headers, and the longest silence on a stream (ms; UPSTREAM_TIMEOUT_MS).
   * Read again whenever the silence timer fires, so raising it extends a running exchange.
   */
  timeoutMs: number;
  /** Largest message read: a JSON body, or one SSE event (MAX_UPSTREAM_MESSAGE_BYTES). */
  maxMessageBytes: number;
}

export interface UpstreamRequest {
  method: "POST" | "GET" | "DELETE";
  body?: unknown;
  /** Session-era upstream session id. */
  usid?: string | null;
  /** MCP-Protocol-Version header. */
  version?: string | null;
  lastEventId?: string | null;
  /** Further protocol headers (2026-07-28: Mcp-Method, Mcp-Name, Mcp-Param-*; trace context). */
  headers?: Record<string, string>;
  /** Whether a silent stream times out (default true; false for long-lived streams). */
  idleTimeout?: boolean;
}

/** One message of an answer, with the SSE event id it came with (if any). */
export interface UpstreamEvent {
  message: JsonRpcMessage;
  eventId?: string;
}

/** A priming event or a `retry` hint of an SSE answer: no message, only how to resume. */
export interface UpstreamMarker {
  eventId?: string;
  retry?: number;
}

export interface UpstreamExchange {
  res: Response;
  /** Aborts the exchange (and its stream). */
  abort: (reason?: string) => void;
  /** Messages of the answer as they arrive (JSON body or SSE stream); the idle timeout applies between them. */
  messages: () => AsyncGenerator<JsonRpcMessage>;
  /** Like {@link messages}, with event ids, and priming events / retry hints as markers. */
  events: () => AsyncGenerator<UpstreamEvent | UpstreamMarker>;
}

const tooLarge = (server: string, max: number) =>
  new UpstreamFailure(
    server,
    `upstream ${server} sent a message larger than ${max} bytes (MAX_UPSTREAM_MESSAGE_BYTES)`,
  );

/** `body` with its `_meta.traceparent`/`tracestate` (when it has them) set to `trace`: a copy, the caller's message stays as it is. */
function withMetaTrace(body: unknown, trace: Record<string, string>): unknown {
  if (!trace.traceparent || !body || typeof body !== "object" || Array.isArray(body)) return body;
  const msg = body as { params?: { _meta?: Record<string, unknown> } };
  const meta = msg.params?._meta;
  if (!meta || typeof meta !== "object" || typeof meta.traceparent !== "string") return body;
  const { tracestate: _drop, ...rest } = meta;
  return { ...msg, params: { ...msg.params, _meta: { ...rest, ...trace } } };
}

/**
 * Reads an answer's body as text, refusing it past `max` bytes (declared or counted) without
 * buffering more. A declared length within the bound is read in one native call (the runtime
 * holds the body to its Content-Length); a chunked body is counted as it comes.
 */
async function readBounded(res: Response, max: number, server: string): Promise<string> {
  const body = res.body!;
  const declared = res.headers.get("content-length");
  if (declared && Number(declared) > max) {
    await body.cancel().catch(() => {});
    throw tooLarge(server, max);
  }
  if (declared && Number(declared) >= 0) return res.text();
  const bytes = await readAtMost(body, max);
  if (!bytes) throw tooLarge(server, max);
  return new TextDecoder().decode(bytes);
}

/**
 * Sends one HTTP request to an upstream. Resolves once the response headers arrive (or rejects
 * with {@link UpstreamFailure} on timeout / network error). `signal` ends it early (client gone).
 */
export async function upstreamFetch(
  server: UpstreamTarget,
  req: UpstreamRequest,
  limits: ExchangeLimits,
  signal?: AbortSignal,
): Promise<UpstreamExchange> {
  const { maxMessageBytes } = limits;
  const headers = storedHeaders(server);
  headers.set("accept", req.method === "GET" ? "text/event-stream" : "application/json, text/event-stream");
  if (req.body !== undefined) headers.set("content-type", "application/json");
  if (req.usid) headers.set("mcp-session-id", req.usid);
  if (req.version) headers.set("mcp-protocol-version", req.version);
  if (req.lastEventId) headers.set("last-event-id", req.lastEventId);
  for (const [name, value] of Object.entries(req.headers ?? {})) headers.set(name, value);
  // one CLIENT span per exchange, child of the request's span: the upstream gets it as its
  // parent, in the header and (2026-07-28) in the message's `_meta` trace keys
  const span = startSpan("mcp-gateway-mcp", `upstream ${req.method}`, "client");
  span.set("mcp.server", server.id).set("http.request.method", req.method);
  const trace = traceHeaders(span);
  for (const [name, value] of Object.entries(trace)) headers.set(name, value);
  const body = withMetaTrace(req.body, trace);
  const started = performance.now();
  const done = (outcome: string, status?: number) => {
    upstreamRequests.inc({ server: server.id, outcome });
    upstreamDuration.observe({ server: server.id }, (performance.now() - started) / 1000);
    if (status !== undefined) span.set("http.response.status_code", status);
    if (outcome !== "ok") span.error(outcome);
    span.end();
  };

  const controller = new AbortController();
  let reason = "";
  const abort = (why = "aborted") => {
    reason ||= why;
    controller.abort();
  };
  const onClientAbort = () => abort("client disconnected");
  signal?.addEventListener("abort", onClientAbort);
  let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(
    () => abort(`no answer within ${limits.timeoutMs} ms`),
    limits.timeoutMs,
  );
  const stopTimer = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  let res: Response;
  try {
    res = await fetch(server.url, {
      method: req.method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      redirect: "manual",
    });
  } catch (err) {
    stopTimer();
    signal?.removeEventListener("abort", onClientAbort);
    done(reason.startsWith("no answer") ? "timeout" : "network_error");
    if (reason)
      throw new UpstreamFailure(
        server.id,
        `upstream ${server.id}: ${reason}${reason.startsWith("no answer") ? " - the server accepted the connection but did not answer: check that it runs and is not overloaded" : ""}`,
      );
    // workerd says only "internal error; reference = ..." or "Network connection lost.": find out
    // which, without naming the upstream's address to the client (the admin's health view does)
    throw new UpstreamFailure(
      server.id,
      `upstream ${server.id}: ${(await diagnoseFetchError(server.url, err, connect, { revealAddress: false })).message}`,
    );
  }
  stopTimer();
  done(res.ok ? "ok" : "http_error", res.status);
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => {});
    signal?.removeEventListener("abort", onClientAbort);
    throw new UpstreamFailure(
      server.id,
      `upstream ${server.id} answered with a redirect (HTTP ${res.status}); the gateway does not follow redirects with a server's credentials - configure the final URL`,
      res.status,
    );
  }

  async function* events(): AsyncGenerator<UpstreamEvent | UpstreamMarker> {
    const type = (res.headers.get("content-type") ?? "").toLowerCase();
    let lastActivity = Date.now();
    const silence = () => {
      const left = lastActivity + limits.timeoutMs - Date.now();
      if (left > 0) timer = setTimeout(silence, left);
      else abort(`silent for ${limits.timeoutMs} ms`);
    };
    const arm = () => {
      stopTimer();
      lastActivity = Date.now();
      if (req.idleTimeout === false) return;
      timer = setTimeout(silence, limits.timeoutMs);
    };
    try {
      if (!res.body) return;
      if (type.includes("text/event-stream")) {
        arm();
        try {
          for await (const ev of parseSse(res.body, controller.signal, maxMessageBytes)) {
            arm();
            if (ev.event !== "message" || !ev.data.trim()) {
              if (ev.id !== undefined || ev.retry !== undefined)
                yield {
                  ...(ev.id !== undefined ? { eventId: ev.id } : {}),
                  ...(ev.retry !== undefined ? { retry: ev.retry } : {}),
                };
              continue;
            }
            const parsed = decode(server.id, ev.data);
            for (const m of parsed) yield { message: m, ...(ev.id !== undefined ? { eventId: ev.id } : {}) };
          }
        } catch (err) {
          if (err instanceof SseTooLarge) throw tooLarge(server.id, maxMessageBytes);
          if (reason) throw new UpstreamFailure(server.id, `upstream ${server.id}: ${reason}`);
          throw new UpstreamFailure(
            server.id,
            `upstream ${server.id} stream broke: ${String((err as Error)?.message ?? err)}`,
          );
        }
        if (reason && reason !== "client disconnected")
          throw new UpstreamFailure(server.id, `upstream ${server.id}: ${reason}`);
        return;
      }
      if (type.includes("application/json")) {
        arm();
        let text: string;
        try {
          text = await readBounded(res, maxMessageBytes, server.id);
        } catch (err) {
          if (err instanceof UpstreamFailure) throw err;
          throw new UpstreamFailure(server.id, `upstream ${server.id}: ${reason || "body unreadable"}`);
        }
        for (const m of decode(server.id, text)) yield { message: m };
        return;
      }
      await res.body.cancel().catch(() => {});
      throw new UpstreamFailure(
        server.id,
        `upstream ${server.id} answered with content-type "${type || "none"}": ${NOT_MCP_HINT}`,
        res.status,
      );
    } finally {
      stopTimer();
      signal?.removeEventListener("abort", onClientAbort);
      // whether read to the end or abandoned (client gone, answer found): release the connection
      abort("closed");
    }
  }

  async function* messages(): AsyncGenerator<JsonRpcMessage> {
    for await (const e of events()) if ("message" in e) yield e.message;
  }

  return { res, abort, messages, events };
}

function decode(server: string, text: string): JsonRpcMessage[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UpstreamFailure(server, `upstream ${server} sent something that is not JSON: ${NOT_MCP_HINT}`);
  }
  const list = Array.isArray(value) ? value : [value];
  const out: JsonRpcMessage[] = [];
  for (const v of list) {
    const c = classify(v);
    if (c.kind === "invalid")
      throw new UpstreamFailure(
        server,
        `upstream ${server} sent an invalid JSON-RPC message (${c.reason}): ${NOT_MCP_HINT}`,
      );
    out.push(c.message);
  }
  return out;
}

/** Reads a whole non-2xx answer's body (bounded), for errors that carry a JSON-RPC error. */
export async function errorBody(res: Response, max = 64 * 1024): Promise<unknown> {
  if (!res.body) return null;
  const bytes = await readAtMost(res.body, max).catch(() => null);
  if (!bytes) return null;
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}
