/**
 * A raw, fetch-based MCP Streamable HTTP client for talking to upstreams as a proxy: it sends
 * messages as they are, injects the target's secret headers (never the client's credentials),
 * applies a timeout to each request and to each silence on a stream, and hands back the
 * upstream's messages one by one as they arrive. Its input is an {@link UpstreamTarget}, which
 * carries the headers explicitly (upstream.credentials.ts#upstreamTarget makes one from a
 * catalog server).
 */
import { classify, type JsonRpcMessage } from "../../../shared/mcp/jsonrpc";
import { parseSse, SseTooLarge } from "../../../shared/mcp/sse";
import { readAtMost } from "../../../shared/streams";

/** Where to send, and the secret headers to send with it (upstream.credentials.ts#upstreamTarget). */
export interface UpstreamTarget {
  id: string;
  url: string;
  transport: "streamable-http" | "sse";
  /** The server's secret headers, injected into every request to it (protocol headers excepted). */
  headers: Readonly<Record<string, string>>;
}

/** Largest upstream message the gateway reads (MAX_UPSTREAM_MESSAGE_BYTES; set per request by the worker). */
let maxMessageBytes = 16 * 1024 * 1024;

/** Sets the largest upstream message (a JSON body, or one SSE event) read before the exchange is refused. */
export function setMaxMessageBytes(n: number): void {
  maxMessageBytes = n;
}

/** The current limit (the legacy SSE client applies it too). */
export function maxUpstreamMessageBytes(): number {
  return maxMessageBytes;
}

const tooLarge = (server: string) => new UpstreamFailure(server, `upstream ${server} sent a message larger than ${maxMessageBytes} bytes (MAX_UPSTREAM_MESSAGE_BYTES)`);

/** Reads a body as text, refusing it past `max` bytes (declared or counted) without buffering more. */
async function readBounded(body: ReadableStream<Uint8Array>, declared: string | null, max: number, server: string): Promise<string> {
  if (declared && Number(declared) > max) {
    await body.cancel().catch(() => {});
    throw tooLarge(server);
  }
  const bytes = await readAtMost(body, max);
  if (!bytes) throw tooLarge(server);
  return new TextDecoder().decode(bytes);
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
const PROTOCOL_HEADERS = new Set(["content-type", "accept", "mcp-session-id", "mcp-protocol-version", "last-event-id", "content-length", "host"]);

export interface UpstreamRequest {
  method: "POST" | "GET" | "DELETE";
  body?: unknown;
  usid?: string | null;
  version?: string | null;
  lastEventId?: string | null;
  /** Whether a silent stream times out (default true; false for the long-lived GET stream). */
  idleTimeout?: boolean;
}

export interface UpstreamExchange {
  res: Response;
  /** Aborts the exchange (and its stream). */
  abort: (reason?: string) => void;
  /** Messages of the answer as they arrive (JSON body or SSE stream); the idle timeout applies between them. */
  messages: () => AsyncGenerator<JsonRpcMessage>;
}

/**
 * Sends one HTTP request to an upstream. Resolves once the response headers arrive (or rejects
 * with {@link UpstreamFailure} on timeout / network error). `signal` ends it early (client gone).
 */
export async function upstreamFetch(server: UpstreamTarget, req: UpstreamRequest, timeoutMs: number, signal?: AbortSignal): Promise<UpstreamExchange> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(server.headers)) {
    if (!PROTOCOL_HEADERS.has(name.toLowerCase())) headers.set(name, value);
  }
  headers.set("accept", req.method === "GET" ? "text/event-stream" : "application/json, text/event-stream");
  if (req.body !== undefined) headers.set("content-type", "application/json");
  if (req.usid) headers.set("mcp-session-id", req.usid);
  if (req.version) headers.set("mcp-protocol-version", req.version);
  if (req.lastEventId) headers.set("last-event-id", req.lastEventId);

  const controller = new AbortController();
  let reason = "";
  const abort = (why = "aborted") => {
    reason ||= why;
    controller.abort();
  };
  const onClientAbort = () => abort("client disconnected");
  signal?.addEventListener("abort", onClientAbort);
  let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(() => abort(`no answer within ${timeoutMs} ms`), timeoutMs);
  const stopTimer = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  let res: Response;
  try {
    res = await fetch(server.url, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal: controller.signal,
      redirect: "manual",
    });
  } catch (err) {
    stopTimer();
    signal?.removeEventListener("abort", onClientAbort);
    throw new UpstreamFailure(server.id, reason ? `upstream ${server.id}: ${reason}` : `upstream ${server.id} unreachable: ${String((err as Error)?.message ?? err)}`);
  }
  stopTimer();

  async function* messages(): AsyncGenerator<JsonRpcMessage> {
    const type = (res.headers.get("content-type") ?? "").toLowerCase();
    const arm = () => {
      stopTimer();
      if (req.idleTimeout === false) return;
      timer = setTimeout(() => abort(`silent for ${timeoutMs} ms`), timeoutMs);
    };
    try {
      if (!res.body) return;
      if (type.includes("text/event-stream")) {
        arm();
        try {
          for await (const ev of parseSse(res.body, controller.signal, maxMessageBytes)) {
            arm();
            if (ev.event !== "message" || !ev.data.trim()) continue;
            const parsed = decode(server.id, ev.data);
            for (const m of parsed) yield m;
          }
        } catch (err) {
          if (err instanceof SseTooLarge) throw tooLarge(server.id);
          if (reason) throw new UpstreamFailure(server.id, `upstream ${server.id}: ${reason}`);
          throw new UpstreamFailure(server.id, `upstream ${server.id} stream broke: ${String((err as Error)?.message ?? err)}`);
        }
        if (reason && reason !== "client disconnected") throw new UpstreamFailure(server.id, `upstream ${server.id}: ${reason}`);
        return;
      }
      if (type.includes("application/json")) {
        arm();
        let text: string;
        try {
          text = await readBounded(res.body, res.headers.get("content-length"), maxMessageBytes, server.id);
        } catch (err) {
          if (err instanceof UpstreamFailure) throw err;
          throw new UpstreamFailure(server.id, `upstream ${server.id}: ${reason || "body unreadable"}`);
        }
        for (const m of decode(server.id, text)) yield m;
        return;
      }
      await res.body.cancel().catch(() => {});
      throw new UpstreamFailure(server.id, `upstream ${server.id} answered with content-type "${type || "none"}", not MCP`, res.status);
    } finally {
      stopTimer();
      signal?.removeEventListener("abort", onClientAbort);
      // whether read to the end or abandoned (client gone, answer found): release the connection
      abort("closed");
    }
  }

  return { res, abort, messages };
}

function decode(server: string, text: string): JsonRpcMessage[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UpstreamFailure(server, `upstream ${server} sent something that is not JSON`);
  }
  const list = Array.isArray(value) ? value : [value];
  const out: JsonRpcMessage[] = [];
  for (const v of list) {
    const c = classify(v);
    if (c.kind === "invalid") throw new UpstreamFailure(server, `upstream ${server} sent an invalid JSON-RPC message (${c.reason})`);
    out.push(c.message);
  }
  return out;
}

/**
 * Opens an upstream session: initialize (with the client's version, capabilities and info, so the
 * upstream offers what it would offer that client directly), then notifications/initialized.
 */
export async function initializeUpstream(
  server: UpstreamTarget,
  opts: {
    version: string;
    capabilities: Record<string, unknown>;
    clientInfo?: Record<string, unknown>;
    /** Runs once the session exists, alongside notifications/initialized (e.g. recording the session). */
    alongside?: (s: { usid: string | null; version: string }) => Promise<void>;
  },
  timeoutMs: number,
): Promise<{ usid: string | null; version: string }> {
  const id = `mcpgw-init-${crypto.randomUUID()}`;
  const ex = await upstreamFetch(
    server,
    {
      method: "POST",
      body: {
        jsonrpc: "2.0",
        id,
        method: "initialize",
        params: { protocolVersion: opts.version, capabilities: opts.capabilities, clientInfo: opts.clientInfo ?? { name: "mcp-gateway", version: "0.1.0" } },
      },
    },
    timeoutMs,
  );
  if (!ex.res.ok) {
    await ex.res.body?.cancel().catch(() => {});
    throw new UpstreamFailure(server.id, `upstream ${server.id} refused initialize (HTTP ${ex.res.status})`, ex.res.status);
  }
  let result: Record<string, unknown> | undefined;
  for await (const m of ex.messages()) {
    if ("id" in m && m.id === id && !("method" in m)) {
      if (m.error) throw new UpstreamFailure(server.id, `upstream ${server.id} refused initialize: ${m.error.message}`);
      result = m.result;
      break;
    }
  }
  ex.abort("done");
  if (!result) throw new UpstreamFailure(server.id, `upstream ${server.id} did not answer initialize`);
  const usid = ex.res.headers.get("mcp-session-id");
  const version = typeof result.protocolVersion === "string" ? result.protocolVersion : opts.version;
  const initialized = async () => {
    const note = await upstreamFetch(server, { method: "POST", body: { jsonrpc: "2.0", method: "notifications/initialized" }, usid, version }, timeoutMs);
    await note.res.body?.cancel().catch(() => {});
    return note;
  };
  const [note] = await Promise.all([initialized(), opts.alongside?.({ usid, version })]);
  if (!note.res.ok) throw new UpstreamFailure(server.id, `upstream ${server.id} refused notifications/initialized (HTTP ${note.res.status})`, note.res.status);
  return { usid, version };
}

/** Posts a notification or a response to an upstream (expects 202); never throws. */
export async function postToUpstream(server: UpstreamTarget, message: unknown, usid: string | null, version: string, timeoutMs: number): Promise<number> {
  try {
    const ex = await upstreamFetch(server, { method: "POST", body: message, usid, version }, timeoutMs);
    await ex.res.body?.cancel().catch(() => {});
    return ex.res.status;
  } catch {
    return 0;
  }
}
