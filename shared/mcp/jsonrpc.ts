/**
 * JSON-RPC 2.0 as MCP uses it: message shapes, the error codes, and a classifier that tells
 * requests, notifications and responses apart without validating method parameters (the gateway
 * is a proxy: it forwards what it does not need to understand). The error codes are the SDK's
 * (`ProtocolErrorCode` of @modelcontextprotocol/server); the message types are kept loose on
 * purpose (the SDK's are zod-inferred per method, which a forwarder cannot satisfy for methods
 * and fields it passes through unread).
 */
import { ProtocolErrorCode } from "@modelcontextprotocol/server";

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  jsonrpc: "2.0";
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}
export interface JsonRpcNotification {
  jsonrpc: "2.0";
  method: string;
  params?: Record<string, unknown>;
}
export interface JsonRpcError {
  code: number;
  message: string;
  data?: unknown;
}
export interface JsonRpcResponse {
  jsonrpc: "2.0";
  id: JsonRpcId | null;
  result?: Record<string, unknown>;
  error?: JsonRpcError;
}
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export const PARSE_ERROR: number = ProtocolErrorCode.ParseError;
export const INVALID_REQUEST: number = ProtocolErrorCode.InvalidRequest;
export const METHOD_NOT_FOUND: number = ProtocolErrorCode.MethodNotFound;
export const INVALID_PARAMS: number = ProtocolErrorCode.InvalidParams;
export const INTERNAL_ERROR: number = ProtocolErrorCode.InternalError;
/** Resource not found in the session era (2025-11-25 and earlier); modern answers use -32602. */
export const RESOURCE_NOT_FOUND: number = ProtocolErrorCode.ResourceNotFound;
/** 2026-07-28: the HTTP headers disagree with the body, or a required one is missing. */
export const HEADER_MISMATCH = -32020;
/** 2026-07-28: processing needs a client capability the request did not declare. */
export const MISSING_CAPABILITY: number = ProtocolErrorCode.MissingRequiredClientCapability;
/** 2026-07-28: the requested protocol version is not supported (data: supported, requested). */
export const UNSUPPORTED_VERSION: number = ProtocolErrorCode.UnsupportedProtocolVersion;
/** Implementation-defined server errors (the gateway's upstream failures). */
export const UPSTREAM_ERROR = -32000;

/**
 * Whether a name or URI contains a C0/C1 control character (NUL included). Such values are never
 * a real tool, prompt or resource name and cannot be stored (Postgres refuses NUL in text), so the
 * gateway refuses them at the edge of the protocol with -32602.
 */
export function hasControlCharacters(s: string): boolean {
  return /[\u0000-\u001f\u007f-\u009f]/.test(s);
}

export type Classified =
  | { kind: "request"; message: JsonRpcRequest }
  | { kind: "notification"; message: JsonRpcNotification }
  | { kind: "response"; message: JsonRpcResponse }
  | { kind: "invalid"; id: JsonRpcId | null; reason: string };

function isId(v: unknown): v is JsonRpcId {
  return typeof v === "string" || (typeof v === "number" && Number.isFinite(v));
}

/** Sorts one decoded JSON value into request / notification / response, or explains why it is none. */
export function classify(value: unknown): Classified {
  if (!value || typeof value !== "object" || Array.isArray(value))
    return { kind: "invalid", id: null, reason: "a JSON-RPC message must be an object" };
  const m = value as Record<string, unknown>;
  const id = isId(m.id) ? m.id : null;
  if (m.jsonrpc !== "2.0") return { kind: "invalid", id, reason: 'jsonrpc must be "2.0"' };
  if (m.params !== undefined && (m.params === null || typeof m.params !== "object" || Array.isArray(m.params))) {
    return { kind: "invalid", id, reason: "params must be an object" };
  }
  if (typeof m.method === "string") {
    if (m.method.length === 0) return { kind: "invalid", id, reason: "method must not be empty" };
    if (!("id" in m)) return { kind: "notification", message: m as unknown as JsonRpcNotification };
    if (!isId(m.id)) return { kind: "invalid", id: null, reason: "id must be a string or a number" };
    return { kind: "request", message: m as unknown as JsonRpcRequest };
  }
  if ("method" in m) return { kind: "invalid", id, reason: "method must be a string" };
  if ("result" in m || "error" in m) {
    if (!("id" in m) || (m.id !== null && !isId(m.id)))
      return { kind: "invalid", id: null, reason: "a response needs an id" };
    if ("result" in m && (m.result === null || typeof m.result !== "object"))
      return { kind: "invalid", id, reason: "result must be an object" };
    if ("error" in m && (!m.error || typeof m.error !== "object"))
      return { kind: "invalid", id, reason: "error must be an object" };
    return { kind: "response", message: m as unknown as JsonRpcResponse };
  }
  return { kind: "invalid", id, reason: "neither a request, a notification nor a response" };
}

/** A JSON-RPC error response. */
export function rpcError(id: JsonRpcId | null, code: number, message: string, data?: unknown): JsonRpcResponse {
  return { jsonrpc: "2.0", id, error: data === undefined ? { code, message } : { code, message, data } };
}

/** A JSON-RPC result response. */
export function resultResponse(id: JsonRpcId, result: Record<string, unknown>): JsonRpcResponse {
  return { jsonrpc: "2.0", id, result };
}

/** Whether a decoded message is a response (result or error) rather than a request/notification. */
export function isResponse(m: JsonRpcMessage): m is JsonRpcResponse {
  return !("method" in m) && ("result" in m || "error" in m);
}

/** Whether a decoded message is a request (has method and id). */
export function isRequest(m: JsonRpcMessage): m is JsonRpcRequest {
  return "method" in m && "id" in m && (m as JsonRpcRequest).id !== undefined;
}
