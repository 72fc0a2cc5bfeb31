/**
 * The downstream client of one request, as the upstream adapters need to know it (its era, what it
 * declared, its log level and trace context). Its own module so that the upstream adapters can
 * take it without importing the dispatcher's request context (imports point one way).
 */
import type { Era, ProtocolVersion } from "../../../../shared/mcp/versions";

/** The downstream client of one request: what it speaks and what it can take. */
export interface ClientView {
  era: Era;
  /** The revision of this request (modern: its `_meta`; session era: the session's). */
  version: ProtocolVersion;
  /** Declared client capabilities (modern: this request's; session era: the session's). */
  caps: Record<string, unknown>;
  info?: { name: string; version: string };
  /**
   * Lowest log level the client wants for this request. Modern: `_meta` logLevel (absent: no log
   * messages at all); session era: what `logging/setLevel` set on the session (absent: the
   * upstream's default).
   */
  logLevel?: string;
  /** W3C trace context of the request, passed on upstream (header and `_meta`). */
  trace?: { traceparent?: string; tracestate?: string };
  /**
   * Whether a server-to-client request can reach the client on this request's answer: only a
   * session-era client reading an SSE answer. Modern clients get MRTR (`input_required`) instead.
   */
  canReceiveRequests: boolean;
}
