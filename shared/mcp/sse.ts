/**
 * Server-Sent Events, both ways: a streaming parser for upstream `text/event-stream` bodies (event
 * by event, nothing buffered beyond the current event) and the encoder for what the gateway sends.
 */

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
 * Yields each event of an SSE body as soon as its terminating blank line arrives.
 * @param maxEventChars longest event (its data and the line being read), in characters; past it
 *   {@link SseTooLarge} is thrown, so a hostile stream cannot make the reader buffer without bound
 */
export async function* parseSse(body: ReadableStream<Uint8Array>, signal?: AbortSignal, maxEventChars = Number.POSITIVE_INFINITY): AsyncGenerator<SseEvent> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let held = 0;
  let afterCr = false;
  let data: string[] = [];
  let event = "";
  let id: string | undefined;
  let retry: number | undefined;
  const onAbort = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      if (held + buf.length > maxEventChars) throw new SseTooLarge(maxEventChars);
      let nl: number;
      // a CR that ended the previous chunk was a line break; a LF opening this one is its other half
      if (buf.length) {
        if (afterCr && buf.startsWith("\n")) buf = buf.slice(1);
        afterCr = false;
      }
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        afterCr = buf[nl] === "\r" && nl === buf.length - 1;
        buf = buf.slice(nl + (buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1));
        if (line === "") {
          if (data.length || retry !== undefined) yield { event: event || "message", data: data.join("\n"), ...(id !== undefined ? { id } : {}), ...(retry !== undefined ? { retry } : {}) };
          data = [];
          held = 0;
          event = "";
          retry = undefined;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "data") {
          data.push(val);
          held += val.length + 1;
        }
        else if (field === "event") event = val;
        else if (field === "id") id = val;
        else if (field === "retry" && /^\d{1,9}$/.test(val)) retry = Number(val);
      }
    }
    // lenient at the end: a last event without its blank line (or its line break) still counts
    if (buf.startsWith("data:")) data.push(buf.slice(5).replace(/^ /, ""));
    if (data.length) yield { event: event || "message", data: data.join("\n"), ...(id !== undefined ? { id } : {}) };
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
