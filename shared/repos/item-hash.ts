/** The content hash of a catalog item (server_items.hash, approved_tools.hash). */
import { sha256Hex } from "../crypto";

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** SHA-256 (hex) of an item's canonical JSON (keys sorted), so key order never counts as a change. */
export function itemHash(item: unknown): Promise<string> {
  return sha256Hex(JSON.stringify(canonical(item)));
}
