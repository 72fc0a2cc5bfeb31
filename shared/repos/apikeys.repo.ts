/**
 * API keys: `mcpgw_<id>_<secret>` when the gateway issues them, or the operator's own
 * ADMIN_API_KEY (any printable string of 16-200 characters); only the SHA-256 of the whole key is
 * stored. A key is found by its hash, refused when revoked or expired, and its last use is recorded.
 */
import type { Sql } from "../db";
import { API_KEY_SHAPE, ApiKeyRow } from "../schemas";
import { randomToken, sha256Hex } from "../crypto";

export const API_KEY_PREFIX = "mcpgw_";

/** Whether a presented string can be an API key at all (checked before any lookup). */
export function isApiKeyShaped(key: string): boolean {
  return API_KEY_SHAPE.test(key);
}

export interface KeyOwner {
  keyId: string;
  email: string;
  isAdmin: boolean;
  /** When the key stops working (null: never). */
  expiresAt: Date | null;
}

/** Generates a new key; returns the id, the full key (shown once) and its hash. */
export async function generateApiKey(): Promise<{ id: string; key: string; hash: string; prefix: string }> {
  const id = randomToken(9).replace(/[-_]/g, "x").toLowerCase().slice(0, 12);
  const key = `${API_KEY_PREFIX}${id}_${randomToken(32)}`;
  return { id, key, hash: await sha256Hex(key), prefix: key.slice(0, API_KEY_PREFIX.length + id.length) };
}

/** Stores a key for a user (the user must exist). */
export async function insertApiKey(
  sql: Sql,
  email: string,
  name: string,
  k: { id: string; hash: string; prefix: string },
  expiresAt: Date | null = null,
): Promise<ApiKeyRow> {
  const [row] = await sql`
    INSERT INTO api_keys (id, user_email, name, prefix, key_hash, expires_at)
    VALUES (${k.id}, ${email}, ${name}, ${k.prefix}, ${k.hash}, ${expiresAt})
    RETURNING id, user_email, name, prefix, created_at, last_used_at, revoked_at, expires_at`;
  return ApiKeyRow.parse(row);
}

/** Finds the live owner of a presented key, or null (unknown, revoked, expired). */
export async function findKeyOwner(sql: Sql, presented: string): Promise<KeyOwner | null> {
  if (!isApiKeyShaped(presented)) return null;
  const hash = await sha256Hex(presented);
  const rows = await sql`
    SELECT k.id, k.user_email, u.is_admin, k.expires_at
    FROM api_keys k JOIN users u ON u.email = k.user_email
    WHERE k.key_hash = ${hash} AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())`;
  const r = rows[0];
  if (!r) return null;
  return {
    keyId: String(r.id),
    email: String(r.user_email),
    isAdmin: Boolean(r.is_admin),
    expiresAt: r.expires_at ? new Date(r.expires_at as string) : null,
  };
}

/** Records the key's last use (called after the response, through waitUntil). */
export async function touchApiKey(sql: Sql, keyId: string): Promise<void> {
  await sql`UPDATE api_keys SET last_used_at = now() WHERE id = ${keyId} AND (last_used_at IS NULL OR last_used_at < now() - interval '10 seconds')`;
}

export async function listApiKeys(sql: Sql, email: string): Promise<ApiKeyRow[]> {
  const rows = await sql`
    SELECT id, user_email, name, prefix, created_at, last_used_at, revoked_at, expires_at
    FROM api_keys WHERE user_email = ${email} ORDER BY created_at`;
  return rows.map((r) => ApiKeyRow.parse(r));
}

/** Revokes (keeps the row for the audit trail). Returns false when no such live key. */
export async function revokeApiKey(sql: Sql, email: string, id: string): Promise<boolean> {
  const rows =
    await sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${id} AND user_email = ${email} AND revoked_at IS NULL RETURNING id`;
  return rows.length > 0;
}
