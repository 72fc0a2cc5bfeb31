/** MCP protocol revisions the gateway speaks, and the negotiation rule at initialize. */

/** Newest first. */
export const SUPPORTED_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
export type ProtocolVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: ProtocolVersion = "2025-11-25";
/** What a server assumes when a request carries no MCP-Protocol-Version header (spec 2025-06-18). */
export const DEFAULT_VERSION: ProtocolVersion = "2025-03-26";

/** Whether `v` is a revision the gateway speaks. */
export function isSupportedVersion(v: unknown): v is ProtocolVersion {
  return typeof v === "string" && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** The client's requested version when supported, else the latest (the client then decides). */
export function negotiateVersion(requested: unknown): ProtocolVersion {
  return isSupportedVersion(requested) ? requested : LATEST_VERSION;
}

/** JSON-RPC batches exist only in 2025-03-26 (removed in 2025-06-18). */
export function allowsBatches(v: ProtocolVersion): boolean {
  return v === "2025-03-26";
}
