/**
 * How answers leave the mcp worker: JSON bodies, JSON-RPC errors as HTTP answers, and SSE streams
 * written as messages arrive (never buffered), with keep-alives on long-lived streams, priming
 * events and resumable event ids for session-era clients, and cleanup when the stream ends.
 */
import { log } from "../../../../shared/log";
import { rpcError, type JsonRpcId, type JsonRpcMessage, type JsonRpcResponse } from "../../../../shared/mcp/jsonrpc";
import { sseComment, sseMessage, ssePriming } from "../../../../shared/mcp/sse";
import { eventRefs, type Outgoing, type StreamMarker } from "../bridge/bridge";
import { sealEventId } from "../tokens";

/** A JSON-RPC error as an HTTP answer (id null unless given: it concerns the HTTP request, not one message). */
export function httpError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  data?: unknown,
  id: JsonRpcId | null = null,
): Response {
  return new Response(JSON.stringify(rpcError(id, code, message, data)), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export function jsonAnswer(payload: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(payload), { status, headers: { "content-type": "application/json", ...headers } });
}

export function isMarker(m: Outgoing): m is StreamMarker {
  return (m as StreamMarker).marker === true;
}

export function isResponseMessage(m: Outgoing): m is JsonRpcResponse {
  return !isMarker(m) && !("method" in m) && ("result" in m || "error" in m);
}

/** What a stream needs around it. */
export interface StreamDeps {
  /** Called when the answer streams: cleanup waits for `done`. */
  streams: (done: Promise<void>) => void;
  /** Aborted when the client stops reading. */
  abort: AbortController;
  /**
   * Resumable event ids (session-era clients): messages that came with an upstream event id, and
   * priming events, get an id sealing the downstream session and the upstream's event.
   */
  resumable?: { secret: string; sid: string };
}

/**
 * Interleaves several message streams as their messages arrive (after `first`), running at most
 * `limit` of them at once (the rest start as running ones end; the generators are lazy, so a
 * stream not started has done nothing yet).
 */
export async function* merge(
  gens: AsyncGenerator<Outgoing>[],
  first: Outgoing[] = [],
  limit = Number.POSITIVE_INFINITY,
): AsyncGenerator<Outgoing> {
  for (const m of first) yield m;
  if (gens.length === 1) {
    yield* gens[0]!;
    return;
  }
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<Outgoing> }>>();
  let started = 0;
  const start = () => {
    while (started < gens.length && pending.size < limit) {
      const i = started++;
      pending.set(
        i,
        gens[i]!.next().then((r) => ({ i, r })),
      );
    }
  };
  start();
  try {
    while (pending.size) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
        start();
        continue;
      }
      pending.set(
        i,
        gens[i]!.next().then((r) => ({ i, r })),
      );
      yield r.value;
    }
  } finally {
    for (const g of gens) void g.return(undefined).catch(() => {});
  }
}

/**
 * Reads `gen` (whose next result is `first`) while it yields responses only. `done`: it ended
 * that way, `messages` is everything; else `messages` are the responses read before `next`, the
 * pending result (a notification, a request, a marker, or a failure) to go on with.
 */
export async function responsesOnly(
  first: Promise<IteratorResult<Outgoing>>,
  gen: AsyncGenerator<Outgoing>,
): Promise<
  { done: true; messages: Outgoing[] } | { done: false; messages: Outgoing[]; next: Promise<IteratorResult<Outgoing>> }
> {
  const messages: Outgoing[] = [];
  let next = first;
  for (;;) {
    let r: IteratorResult<Outgoing>;
    try {
      r = await next;
    } catch {
      return { done: false, messages, next };
    }
    if (r.done)
      return messages.length === 1 ? { done: true, messages } : { done: false, messages, next: Promise.resolve(r) };
    if (!isResponseMessage(r.value)) return { done: false, messages, next: Promise.resolve(r) };
    messages.push(r.value);
    next = gen.next();
  }
}

/** `before`, then the pending result `next`, then the rest of `gen`. */
export async function* replay(
  before: Outgoing[],
  next: Promise<IteratorResult<Outgoing>>,
  gen: AsyncGenerator<Outgoing>,
): AsyncGenerator<Outgoing> {
  try {
    yield* before;
    const r = await next;
    if (r.done) return;
    yield r.value;
    yield* gen;
  } finally {
    // ended early (the client stopped reading): end the source too
    void gen.return(undefined).catch(() => {});
  }
}

/** Keeps only the messages of a stream (markers dropped): what a JSON answer can hold. */
export async function collectResponses(gen: AsyncGenerator<Outgoing>): Promise<JsonRpcResponse[]> {
  const out: JsonRpcResponse[] = [];
  for await (const m of gen) if (isResponseMessage(m)) out.push(m);
  return out;
}

/** The SSE bytes of one outgoing item (a message, with its resumable id when it has one; or a priming event). */
async function encode(m: Outgoing, deps: StreamDeps): Promise<Uint8Array | null> {
  const r = deps.resumable;
  if (isMarker(m)) {
    if (!r || !m.eventId || !m.at)
      return m.retry !== undefined ? new TextEncoder().encode(`retry: ${m.retry}\n\n`) : null;
    const id = await sealEventId(r.secret, {
      sid: r.sid,
      server: m.at.server,
      usid: m.at.usid,
      uv: m.at.uv,
      eid: m.eventId,
    });
    return ssePriming(id, m.retry);
  }
  const ref = r ? eventRefs.get(m) : undefined;
  if (r && ref)
    return sseMessage(
      m,
      await sealEventId(r.secret, {
        sid: r.sid,
        server: ref.at.server,
        usid: ref.at.usid,
        uv: ref.at.uv,
        eid: ref.eid,
      }),
    );
  return sseMessage(m as JsonRpcMessage);
}

/**
 * Streams items as SSE without buffering; cleanup (audit, Postgres) runs when it ends. `keepAlive`
 * sends a comment at once and every 15 s (long-lived streams); `headers` are added to the answer.
 */
export function sseResponse(
  items: AsyncGenerator<Outgoing>,
  deps: StreamDeps,
  opts: { keepAlive: boolean; pingMs?: number; headers?: Record<string, string> },
): Response {
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  deps.streams(done);
  let ping: ReturnType<typeof setInterval> | undefined;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      if (opts.keepAlive) {
        controller.enqueue(sseComment("stream open"));
        ping = setInterval(() => {
          try {
            controller.enqueue(sseComment());
          } catch {
            // closed
          }
        }, opts.pingMs ?? 15_000);
      }
    },
    async pull(controller) {
      try {
        for (;;) {
          const { value, done: end } = await items.next();
          if (end) {
            controller.close();
            stop();
            return;
          }
          const bytes = await encode(value, deps);
          if (bytes) {
            controller.enqueue(bytes);
            return;
          }
        }
      } catch (err) {
        log.error("stream failed", { message: String((err as Error)?.message ?? err) });
        controller.close();
        stop();
      }
    },
    async cancel() {
      // the client stopped reading: end upstream exchanges now (a pending read may never resolve),
      // and let the generators unwind before cleanup runs (they register work: a cancellation upstream)
      deps.abort.abort();
      if (ping) clearInterval(ping);
      // the abort ends a pending read soon; a generator that still does not unwind is not waited for
      let bound: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([items.return(undefined).catch(() => {}), new Promise((r) => (bound = setTimeout(r, 2000)))]);
      clearTimeout(bound);
      stop();
    },
  });
  function stop() {
    if (ping) clearInterval(ping);
    resolveDone();
  }
  return new Response(stream, {
    status: 200,
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
      ...opts.headers,
    },
  });
}
