/**
 * MCP protocol revisions the gateway speaks, in two eras (spec 2026-07-28, "Versioning"):
 * - modern (2026-07-28): stateless, every request carries its version and capabilities in `_meta`;
 * - legacy (2025-11-25 and earlier): a session opened by `initialize`, named by `Mcp-Session-Id`.
 * One endpoint serves both; the era is chosen per request from the body (see
 * workers/mcp/src/downstream/classify.ts).
 */

/** Modern revisions, newest first. */
export const MODERN_VERSIONS = ["2026-07-28"] as const;
/** Session-era revisions, newest first. */
export const LEGACY_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
/** Every revision the gateway speaks, newest first (the `supported` list of -32022 and server/discover). */
export const SUPPORTED_VERSIONS = [...MODERN_VERSIONS, ...LEGACY_VERSIONS] as const;

export type ModernVersion = (typeof MODERN_VERSIONS)[number];
export type LegacyVersion = (typeof LEGACY_VERSIONS)[number];
export type ProtocolVersion = ModernVersion | LegacyVersion;
export type Era = "modern" | "legacy";

export const LATEST_MODERN_VERSION: ModernVersion = "2026-07-28";
/** The newest session-era revision (what `initialize` offers when the client asks for an unknown one). */
export const LATEST_VERSION: LegacyVersion = "2025-11-25";
/** What a server assumes when a session-era request carries no MCP-Protocol-Version header (spec 2025-06-18). */
export const DEFAULT_VERSION: LegacyVersion = "2025-03-26";

/** The first modern revision: revision ids are ISO dates, so later ones compare greater. */
const FIRST_MODERN = "2026-07-28";

/** Whether a revision id belongs to the modern era (2026-07-28 or later), whether or not the gateway speaks it. */
export function isModernVersion(v: unknown): boolean {
  return typeof v === "string" && /^\d{4}-\d{2}-\d{2}$/.test(v) && v >= FIRST_MODERN;
}

/** The era of a revision id. */
export function eraOf(v: string): Era {
  return isModernVersion(v) ? "modern" : "legacy";
}

/** Whether `v` is a session-era revision the gateway speaks. */
export function isSupportedVersion(v: unknown): v is LegacyVersion {
  return typeof v === "string" && (LEGACY_VERSIONS as readonly string[]).includes(v);
}

/** Whether `v` is a modern revision the gateway speaks. */
export function isSupportedModernVersion(v: unknown): v is ModernVersion {
  return typeof v === "string" && (MODERN_VERSIONS as readonly string[]).includes(v);
}

/** The client's requested session-era version when supported, else the latest (the client then decides). */
export function negotiateVersion(requested: unknown): LegacyVersion {
  return isSupportedVersion(requested) ? requested : LATEST_VERSION;
}

/** JSON-RPC batches exist only in 2025-03-26 (removed in 2025-06-18, and never modern). */
export function allowsBatches(v: ProtocolVersion): boolean {
  return v === "2025-03-26";
}
