/**
 * What the auth worker keeps in Postgres about browser logins and credentials: single use of
 * login states, revoked sessions, first-login user creation, and the identity facts
 * (admin flag, groups) behind every credential. Emails are lower-cased before every query.
 */
import type { Sql } from "../db";

export interface UserFacts {
  email: string;
  displayName: string;
  isAdmin: boolean;
  groups: string[];
}

/**
 * Marks a login state as used. Returns false when it was used before (a replay).
 * Expired rows are removed on the way.
 */
export async function consumeLoginState(sql: Sql, stateHash: string, expiresAt: Date): Promise<boolean> {
  await sql`DELETE FROM auth_used_states WHERE expires_at < now() - interval '1 minute'`;
  const rows = await sql`INSERT INTO auth_used_states (state_hash, expires_at) VALUES (${stateHash}, ${expiresAt}) ON CONFLICT DO NOTHING RETURNING state_hash`;
  return rows.length === 1;
}

/** Revokes a session id until its cookie would have expired anyway. */
export async function revokeSession(sql: Sql, sid: string, expiresAt: Date): Promise<void> {
  await sql`DELETE FROM auth_revoked_sessions WHERE expires_at < now()`;
  await sql`INSERT INTO auth_revoked_sessions (sid, expires_at) VALUES (${sid}, ${expiresAt}) ON CONFLICT DO NOTHING`;
}

/** The user's admin flag and groups, or null when no such user. With `sid`, null also when that session was revoked. */
export async function userFacts(sql: Sql, email: string, sid?: string): Promise<UserFacts | null> {
  const rows = await sql`
    SELECT u.email, u.display_name, u.is_admin,
           COALESCE((SELECT jsonb_agg(m.group_name ORDER BY m.group_name) FROM user_group_membership m WHERE m.user_email = u.email), '[]'::jsonb) AS groups,
           ${sid ?? null}::text IS NOT NULL AND EXISTS (SELECT 1 FROM auth_revoked_sessions r WHERE r.sid = ${sid ?? null}::text) AS revoked
    FROM users u WHERE u.email = ${email.toLowerCase()}`;
  const r = rows[0];
  if (!r || r.revoked) return null;
  const groups = typeof r.groups === "string" ? JSON.parse(r.groups) : r.groups;
  return { email: String(r.email), displayName: String(r.display_name), isAdmin: Boolean(r.is_admin), groups: (groups as unknown[]).map(String) };
}

/** Creates the user on first login, records the login time; returns the user's facts. */
export async function recordLogin(sql: Sql, email: string, displayName: string): Promise<UserFacts> {
  await sql`
    INSERT INTO users (email, display_name, last_login_at) VALUES (${email.toLowerCase()}, ${displayName}, now())
    ON CONFLICT (email) DO UPDATE SET last_login_at = now(),
      display_name = CASE WHEN users.display_name = '' THEN EXCLUDED.display_name ELSE users.display_name END`;
  return (await userFacts(sql, email))!;
}

/** The user's facts, creating the user (without groups) when a trusted credential names a new one. */
export async function ensureUserFacts(sql: Sql, email: string, displayName = ""): Promise<UserFacts> {
  const known = await userFacts(sql, email);
  if (known) return known;
  await sql`INSERT INTO users (email, display_name) VALUES (${email.toLowerCase()}, ${displayName}) ON CONFLICT (email) DO NOTHING`;
  return (await userFacts(sql, email))!;
}
