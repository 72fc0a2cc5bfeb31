/**
 * Hono middleware that reads to its end a request body the handler did not read, before the
 * response goes out, so the client's kept-alive connection stays usable.
 *
 * workerd itself discards an unread body of at most 64 KiB. Past that, and for a body of any
 * size a worker got through a service binding, it closes the client's connection after the
 * response, without `Connection: close` (cloudflare/workerd#1741). The client's next request on
 * that connection then meets ECONNRESET. Behind Traefik this is another user's request: Go's
 * proxy answers it 502. Reading the body afterwards through `waitUntil`, or cancelling it, does
 * not help; reading it before the response does.
 *
 * Bounded: at most `maxBytes` (the body limit; a larger declared body is refused unread, and
 * that connection is lost as before) and at most {@link DRAIN_TIMEOUT_MS}, so a client that
 * trickles its body cannot hold the worker. A handler that read the body costs one check.
 */
import type { Context, MiddlewareHandler } from "hono";

/** Longest the middleware waits for the rest of an unread body. */
export const DRAIN_TIMEOUT_MS = 5_000;

export interface DrainBodyOptions {
  /** Most bytes read and discarded (the worker's body limit). */
  maxBytes: number | ((c: Context) => number);
}

/** Reads `body` to its end and drops the bytes; gives up past `maxBytes` or `ms`. */
export async function discard(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  ms = DRAIN_TIMEOUT_MS,
): Promise<void> {
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((res) => (timer = setTimeout(() => res("late"), ms)));
  let seen = 0;
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), late]);
      if (next === "late") break;
      // Stryker disable next-line ConditionalExpression: equivalent, past the end `value` is undefined and the catch below ends the read all the same
      if (next.done) return;
      seen += next.value.byteLength;
      if (seen > maxBytes) break;
    }
    await reader.cancel().catch(() => {});
  } catch {
    // the client's stream failed: there is no connection left to keep
  } finally {
    clearTimeout(timer);
  }
}

export function drainBody(opts: DrainBodyOptions): MiddlewareHandler {
  return async function drainBodyMiddleware(c, next) {
    const raw = c.req.raw;
    await next();
    // read by the handler, handed on to another Request, or locked by a reader: not ours to read
    if (raw.body === null || raw.bodyUsed || raw.body.locked) return;
    const max = typeof opts.maxBytes === "function" ? opts.maxBytes(c) : opts.maxBytes;
    const declared = Number(raw.headers.get("content-length") ?? NaN);
    if (declared > max) return;
    await discard(raw.body, max);
  };
}
