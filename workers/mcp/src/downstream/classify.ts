/**
 * Which era a request speaks, as the spec says it is chosen: from the body (a request carrying the
 * modern per-request `_meta` envelope is modern; `initialize`, an envelope-less request, a batch or
 * a posted response belongs to a session), with the SDK's classifier (`classifyInboundRequest`
 * of @modelcontextprotocol/server, which also cross-checks `MCP-Protocol-Version` and `Mcp-Method`
 * against the body). On top of it, for modern requests, what the SDK checks but does not export:
 * the required standard headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` with the Base64
 * sentinel decoded) and the revision being one the gateway speaks.
 */
import { classifyInboundRequest } from "@modelcontextprotocol/server";
import {
  HEADER_MISMATCH,
  INVALID_PARAMS,
  UNSUPPORTED_VERSION,
  type JsonRpcNotification,
  type JsonRpcRequest,
} from "../../../../shared/mcp/jsonrpc";
import { isModernVersion, isSupportedModernVersion, SUPPORTED_VERSIONS } from "../../../../shared/mcp/versions";
import { LOG_LEVELS } from "../dispatch/dispatcher";
import { decodeHeaderValue, nameSource } from "../upstream/mcp-headers";

/** A refusal: HTTP status and the JSON-RPC error to answer with. */
export interface Refusal {
  status: number;
  code: number;
  message: string;
  data?: unknown;
}

export type EraChoice =
  | { era: "legacy" }
  | { era: "modern"; kind: "request"; message: JsonRpcRequest; version: string; meta: ModernMeta }
  | { era: "modern"; kind: "notification"; message: JsonRpcNotification }
  | { era: "refused"; refusal: Refusal; id: string | number | null };

/** The per-request protocol fields of a modern request's `_meta`. */
export interface ModernMeta {
  caps: Record<string, unknown>;
  info?: { name: string; version: string };
  logLevel?: string;
  traceparent?: string;
  tracestate?: string;
}

const K = {
  version: "io.modelcontextprotocol/protocolVersion",
  caps: "io.modelcontextprotocol/clientCapabilities",
  info: "io.modelcontextprotocol/clientInfo",
  level: "io.modelcontextprotocol/logLevel",
} as const;

function idOf(body: unknown): string | number | null {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof id === "string" || typeof id === "number" ? id : null;
}

/** Chooses the era of a POST (its parsed body and headers). */
export function chooseEra(body: unknown, headers: Headers): EraChoice {
  const versionHeader = headers.get("mcp-protocol-version") ?? undefined;
  const methodHeader = headers.get("mcp-method") ?? undefined;
  const nameHeader = headers.get("mcp-name") ?? undefined;
  const route = classifyInboundRequest({
    httpMethod: "POST",
    body,
    ...(versionHeader !== undefined ? { protocolVersionHeader: versionHeader } : {}),
    ...(methodHeader !== undefined ? { mcpMethodHeader: methodHeader } : {}),
    ...(nameHeader !== undefined ? { mcpNameHeader: nameHeader } : {}),
  });
  if (route.kind === "reject")
    return {
      era: "refused",
      refusal: {
        status: route.httpStatus,
        code: route.code,
        message: route.message,
        ...(route.data !== undefined ? { data: route.data } : {}),
      },
      id: idOf(body),
    };
  if (route.kind === "legacy") return { era: "legacy" };
  if (route.messageKind === "notification")
    return { era: "modern", kind: "notification", message: route.message as unknown as JsonRpcNotification };

  const message = route.message as unknown as JsonRpcRequest;
  const id = message.id;
  const meta = (message.params?._meta ?? {}) as Record<string, unknown>;
  const version = typeof meta[K.version] === "string" ? (meta[K.version] as string) : (versionHeader ?? "");
  const refuse = (status: number, code: number, text: string, data?: unknown): EraChoice => ({
    era: "refused",
    refusal: { status, code, message: text, ...(data !== undefined ? { data } : {}) },
    id,
  });
  if (!isSupportedModernVersion(version)) {
    return refuse(400, UNSUPPORTED_VERSION, `Unsupported protocol version ${version || "(none)"}`, {
      supported: [...SUPPORTED_VERSIONS],
      requested: version,
    });
  }
  // the standard headers, required on every modern request POST (SEP-2243)
  if (versionHeader === undefined)
    return refuse(400, HEADER_MISMATCH, "Header mismatch: the MCP-Protocol-Version header is required");
  if (methodHeader === undefined)
    return refuse(
      400,
      HEADER_MISMATCH,
      `Header mismatch: the Mcp-Method header is required (the body names ${message.method})`,
    );
  const src = nameSource(message.method, message.params);
  if (src && src.value !== undefined) {
    if (nameHeader === undefined)
      return refuse(
        400,
        HEADER_MISMATCH,
        `Header mismatch: the Mcp-Name header is required (the body names ${src.field} ${JSON.stringify(src.value)})`,
      );
    const decoded = decodeHeaderValue(nameHeader);
    if (decoded === undefined)
      return refuse(
        400,
        HEADER_MISMATCH,
        "Header mismatch: the Mcp-Name header is not a valid header value or Base64 sentinel",
      );
    if (decoded !== src.value)
      return refuse(
        400,
        HEADER_MISMATCH,
        `Header mismatch: Mcp-Name header value ${JSON.stringify(decoded)} does not match body value ${JSON.stringify(src.value)}`,
      );
  }
  const caps = meta[K.caps];
  if (!caps || typeof caps !== "object" || Array.isArray(caps))
    return refuse(400, INVALID_PARAMS, `Invalid params: _meta ${K.caps} must be an object`);
  const level = meta[K.level];
  if (level !== undefined && (typeof level !== "string" || !LOG_LEVELS.has(level)))
    return refuse(400, INVALID_PARAMS, `Invalid params: _meta ${K.level} must be one of ${[...LOG_LEVELS].join(", ")}`);
  const info = meta[K.info] as { name?: unknown; version?: unknown } | undefined;
  return {
    era: "modern",
    kind: "request",
    message,
    version,
    meta: {
      caps: caps as Record<string, unknown>,
      ...(info && typeof info === "object"
        ? {
            info: {
              name: String(info.name ?? "client").slice(0, 100),
              version: String(info.version ?? "0").slice(0, 50),
            },
          }
        : {}),
      ...(typeof level === "string" ? { logLevel: level } : {}),
      ...(typeof meta.traceparent === "string" ? { traceparent: meta.traceparent } : {}),
      ...(typeof meta.tracestate === "string" ? { tracestate: meta.tracestate } : {}),
    },
  };
}

/** Whether a GET or DELETE is modern traffic (its MCP-Protocol-Version names a modern revision): those get 405. */
export function isModernBodyless(headers: Headers): boolean {
  return isModernVersion(headers.get("mcp-protocol-version")?.trim());
}
