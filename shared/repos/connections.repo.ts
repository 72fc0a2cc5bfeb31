/**
 * Users' connections to per-user upstream servers (migration 0011, shared/credentials.ts).
 * Tokens are stored sealed for (user, server, field) and opened only by {@link openConnection}
 * (the catalog worker, when the mcp worker forwards for that user); {@link listConnections}
 * answers without them. Every write records an `auth` audit entry without the token.
 */
import { z } from "zod";
import { connectionContext } from "../credentials";
import { Email } from "../schemas";
import { isSealed, seal, unseal, type KeyRing } from "../secrets";
import type { Db } from "./audit.repo";

export interface ConnectionInfo {
  server: string;
  kind: "token" | "oauth";
  scope: string;
  expiresAt: string | null;
  connectedAt: string;
  refreshedAt: string | null;
}

export interface OpenConnection {
  kind: "token" | "oauth";
  access: string;
  refresh: string | null;
  tokenEndpoint: string | null;
  expiresAt: Date | null;
}

export interface ConnectionTokens {
  kind: "token" | "oauth";
  access: string;
  refresh?: string | null;
  tokenEndpoint?: string | null;
  scope?: string;
  /** Seconds until the access token expires (the token answer's expires_in), if known. */
  expiresIn?: number | null;
}

async function sealTokens(
  ring: KeyRing,
  email: string,
  server: string,
  t: { access: string; refresh?: string | null },
): Promise<Record<string, string>> {
  const out: Record<string, string> = {
    access: await seal(ring, t.access, connectionContext(email, server, "access")),
  };
  if (t.refresh) out.refresh = await seal(ring, t.refresh, connectionContext(email, server, "refresh"));
  return out;
}

/** Opens the stored token map of one connection (legacy plaintext passes; never written so). */
export async function openConnectionSecrets(
  ring: KeyRing,
  email: string,
  server: string,
  secrets: Record<string, string>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secrets))
    out[k] = isSealed(v) ? await unseal(ring, v, connectionContext(email, server, k as "access" | "refresh")) : v;
  return out;
}

/** Seals and stores a connection (replacing any), and audits it. */
export async function saveConnection(
  db: Db,
  ring: KeyRing,
  email: string,
  server: string,
  t: ConnectionTokens,
  action: "connect" | "refresh" = "connect",
): Promise<void> {
  const e = email.toLowerCase();
  const secrets = await sealTokens(ring, e, server, t);
  const expires = t.expiresIn ? new Date(Date.now() + t.expiresIn * 1000) : null;
  if (action === "refresh") {
    // a refresh keeps the refresh token when the server sent no new one
    await db`UPDATE user_connections SET secrets = ${db.json(secrets)} || CASE WHEN ${!!t.refresh} THEN '{}'::jsonb ELSE secrets - 'access' END,
               expires_at = ${expires}, refreshed_at = now() WHERE user_email = ${e} AND server_id = ${server}`;
  } else {
    await db`INSERT INTO user_connections (user_email, server_id, kind, secrets, token_endpoint, scope, expires_at)
             VALUES (${e}, ${server}, ${t.kind}, ${db.json(secrets)}, ${t.tokenEndpoint ?? null}, ${t.scope ?? ""}, ${expires})
             ON CONFLICT (user_email, server_id) DO UPDATE SET kind = EXCLUDED.kind, secrets = EXCLUDED.secrets,
               token_endpoint = EXCLUDED.token_endpoint, scope = EXCLUDED.scope, expires_at = EXCLUDED.expires_at,
               created_at = now(), refreshed_at = NULL`;
  }
  await db`INSERT INTO audit_log (kind, actor, action, target, server_id, detail)
           VALUES ('auth', ${e}, ${`connection.${action}`}, ${`connection:${server}`}, ${server}, ${db.json({ kind: t.kind })})`;
}

/** A deleted connection's tokens (access null when they no longer open). */
export type TakenConnection = Omit<OpenConnection, "access"> & { access: string | null };

/** The connections of a server, or of a user: (email, server) pairs. */
export async function connectionsOf(
  db: Db,
  by: { server: string } | { email: string },
): Promise<{ email: string; server: string }[]> {
  const rows =
    "server" in by
      ? await db`SELECT user_email, server_id FROM user_connections WHERE server_id = ${by.server} ORDER BY user_email`
      : await db`SELECT user_email, server_id FROM user_connections WHERE user_email = ${by.email.toLowerCase()} ORDER BY server_id`;
  return rows.map((r) => ({ email: String(r.user_email), server: String(r.server_id) }));
}

/**
 * Deletes a user's connection (audited) and returns its tokens, opened, for revocation at the
 * authorization server; null when there was none. A connection whose tokens no longer open
 * (the key is gone) is deleted all the same and returned without them.
 */
export async function takeConnection(
  db: Db,
  ring: KeyRing,
  email: string,
  server: string,
  reason = "disconnect",
): Promise<TakenConnection | null> {
  const e = email.toLowerCase();
  const [row] =
    await db`DELETE FROM user_connections WHERE user_email = ${e} AND server_id = ${server} RETURNING kind, secrets, token_endpoint, expires_at`;
  if (!row) return null;
  await db`INSERT INTO audit_log (kind, actor, action, target, server_id, detail) VALUES ('auth', ${e}, 'connection.disconnect', ${`connection:${server}`}, ${server}, ${db.json({ reason })})`;
  const s = await openConnectionSecrets(ring, e, server, row.secrets as Record<string, string>).catch(
    () => ({}) as Record<string, string>,
  );
  return {
    kind: row.kind as "token" | "oauth",
    access: s.access ?? null,
    refresh: s.refresh ?? null,
    tokenEndpoint: (row.token_endpoint as string | null) ?? null,
    expiresAt: row.expires_at ? new Date(row.expires_at as string) : null,
  };
}

/** Deletes a user's connection; false when there was none. Audited. */
export async function deleteConnection(db: Db, email: string, server: string, reason = "disconnect"): Promise<boolean> {
  const e = email.toLowerCase();
  const rows = await db`DELETE FROM user_connections WHERE user_email = ${e} AND server_id = ${server} RETURNING kind`;
  if (rows.length)
    await db`INSERT INTO audit_log (kind, actor, action, target, server_id, detail) VALUES ('auth', ${e}, 'connection.disconnect', ${`connection:${server}`}, ${server}, ${db.json({ reason })})`;
  return rows.length > 0;
}

/** A user's connections, without tokens. */
export async function listConnections(db: Db, email: string): Promise<ConnectionInfo[]> {
  const rows =
    await db`SELECT server_id, kind, scope, expires_at, created_at, refreshed_at FROM user_connections WHERE user_email = ${email.toLowerCase()} ORDER BY server_id`;
  const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null);
  return rows.map((r) => ({
    server: String(r.server_id),
    kind: r.kind as "token" | "oauth",
    scope: String(r.scope),
    expiresAt: iso(r.expires_at),
    connectedAt: iso(r.created_at)!,
    refreshedAt: iso(r.refreshed_at),
  }));
}

/** How many users are connected, per server (admin visibility). */
export async function connectionCounts(db: Db): Promise<Record<string, number>> {
  const rows = await db`SELECT server_id, count(*)::int AS n FROM user_connections GROUP BY server_id`;
  return Object.fromEntries(rows.map((r) => [String(r.server_id), Number(r.n)]));
}

/** One connection with its tokens opened, or null. `lock`: inside a transaction, for a refresh. */
export async function openConnection(
  db: Db,
  ring: KeyRing,
  email: string,
  server: string,
  lock = false,
): Promise<OpenConnection | null> {
  const e = email.toLowerCase();
  const [row] = lock
    ? await db`SELECT kind, secrets, token_endpoint, expires_at FROM user_connections WHERE user_email = ${e} AND server_id = ${server} FOR UPDATE`
    : await db`SELECT kind, secrets, token_endpoint, expires_at FROM user_connections WHERE user_email = ${e} AND server_id = ${server}`;
  if (!row) return null;
  const s = await openConnectionSecrets(ring, e, server, row.secrets as Record<string, string>);
  return {
    kind: row.kind as "token" | "oauth",
    access: s.access!,
    refresh: s.refresh ?? null,
    tokenEndpoint: (row.token_endpoint as string | null) ?? null,
    expiresAt: row.expires_at ? new Date(row.expires_at as string) : null,
  };
}

/**
 * A connection taken out of the store with its tokens still sealed (bound to its user and
 * server); the schema checks one sent between workers (shared/oauth.revoke.ts DroppedConnections).
 */
export const SealedConnection = z.strictObject({
  email: Email,
  kind: z.enum(["token", "oauth"]),
  secrets: z.record(z.string(), z.string()),
  tokenEndpoint: z.string().nullable(),
});
export type SealedConnection = z.infer<typeof SealedConnection>;

/**
 * Deletes every user's connection to `server`, each audited with `reason`, and returns them
 * sealed: the worker that reaches the authorization server revokes them (shared/oauth.revoke.ts).
 */
export async function dropServerConnections(db: Db, server: string, reason: string): Promise<SealedConnection[]> {
  // one statement: the rows go and each user's audit row comes, however many users there are
  const rows = await db`
    WITH gone AS (
      DELETE FROM user_connections WHERE server_id = ${server} RETURNING user_email, kind, secrets, token_endpoint
    ), audited AS (
      INSERT INTO audit_log (kind, actor, action, target, server_id, detail)
      SELECT 'auth', user_email, 'connection.disconnect', ${`connection:${server}`}, ${server}, ${db.json({ reason })} FROM gone
    )
    SELECT * FROM gone ORDER BY user_email`;
  return rows.map((r) => ({
    email: String(r.user_email),
    kind: r.kind as "token" | "oauth",
    secrets: r.secrets as Record<string, string>,
    tokenEndpoint: (r.token_endpoint as string | null) ?? null,
  }));
}
