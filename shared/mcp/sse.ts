/**
 * Server-Sent Events, both ways: a streaming parser for upstream `text/event-stream` bodies (event
 * by event, nothing buffered beyond the current event) and the encoder for what the gateway sends.
 */
import { createParser } from "eventsource-parser";

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
  /** The reconnection time the stream asked for (ms), when this event carried a `retry` field. */
  retry?: number;
}

/** An event (or a line) longer than the parser's limit: the stream is abandoned. */
export class SseTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`an event exceeds ${limit} bytes`);
  }
}

/**
 * Yields each event of an SSE body as soon as its terminating blank line arrives, parsed by
 * eventsource-parser (the WHATWG algorithm: CR, LF and CRLF line ends, also split across chunks).
 * Kept from the event stream's model: the last event id stays in force for later events (it is
 * the stream's `Last-Event-ID`), a `retry` travels with the next event (alone when a second
 * `retry` or the end of the body comes first), and at the end of the body a last event without its blank line still counts.
 * @param maxEventChars longest event (its data and the line being read), in characters; past it
 *   {@link SseTooLarge} is thrown, so a hostile stream cannot make the reader buffer without bound
 */
export async function* parseSse(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
  maxEventChars = Number.POSITIVE_INFINITY,
): AsyncGenerator<SseEvent> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const ready: SseEvent[] = [];
  let lastId: string | undefined;
  let retry: number | undefined;
  let tooLarge = false;
  const withRetry = (e: SseEvent): SseEvent => {
    if (retry === undefined) return e;
    const out = { ...e, retry };
    retry = undefined;
    return out;
  };
  const parser = createParser({
    onEvent(e) {
      // the parser bounds what it holds between chunks; an event that arrived whole is bounded here
      if (e.data.length > maxEventChars) tooLarge = true;
      if (tooLarge) return;
      if (e.id !== undefined) lastId = e.id;
      ready.push(
        withRetry({ event: e.event || "message", data: e.data, ...(lastId !== undefined ? { id: lastId } : {}) }),
      );
    },
    onRetry(ms) {
      if (retry !== undefined)
        ready.push(withRetry({ event: "message", data: "", ...(lastId !== undefined ? { id: lastId } : {}) }));
      retry = ms;
    },
    onError(err) {
      if (err.type === "max-buffer-size-exceeded") tooLarge = true;
    },
    ...(Number.isFinite(maxEventChars) ? { maxBufferSize: maxEventChars } : {}),
  });
  // a `retry` whose block had no data: yielded on its own at the end of the body
  const flushRetry = () => {
    if (retry !== undefined && !ready.length)
      ready.push(withRetry({ event: "message", data: "", ...(lastId !== undefined ? { id: lastId } : {}) }));
  };
  const onAbort = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(value);
      if (tooLarge) throw new SseTooLarge(maxEventChars);
      while (ready.length) yield ready.shift()!;
    }
    // lenient at the end: a last event without its blank line (or its line break) still counts
    parser.feed("\n\n");
    if (tooLarge) throw new SseTooLarge(maxEventChars);
    flushRetry();
    while (ready.length) yield ready.shift()!;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

const enc = new TextEncoder();

/** Encodes one JSON-RPC message as an SSE `message` event (with an event id when the stream can be resumed). */
export function sseMessage(message: unknown, id?: string): Uint8Array {
  return enc.encode(`${id ? `id: ${id}\n` : ""}event: message\ndata: ${JSON.stringify(message)}\n\n`);
}

/**
 * A priming event (2025-11-25, SEP-1699): an event id with empty data, sent first on a resumable
 * stream, so a client whose connection breaks can reconnect with `Last-Event-ID`; `retry` tells
 * it how long to wait before reconnecting (ms).
 */
export function ssePriming(id: string, retryMs?: number): Uint8Array {
  return enc.encode(`id: ${id}\n${retryMs !== undefined ? `retry: ${retryMs}\n` : ""}data: \n\n`);
}

/** An SSE comment line (keeps idle connections open through proxies). */
export function sseComment(text = "keep-alive"): Uint8Array {
  return enc.encode(`: ${text}\n\n`);
}
