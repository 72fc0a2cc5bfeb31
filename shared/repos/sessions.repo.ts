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
  /** The memberships among `groups` that came from the IdP (source 'idp'). */
  idpGroups: string[];
}

/**
 * Marks a login state as used. Returns false when it was used before (a replay).
 * Expired rows are removed on the way.
 */
export async function consumeLoginState(sql: Sql, stateHash: string, expiresAt: Date): Promise<boolean> {
  await sql`DELETE FROM auth_used_states WHERE expires_at < now() - interval '1 minute'`;
  const rows =
    await sql`INSERT INTO auth_used_states (state_hash, expires_at) VALUES (${stateHash}, ${expiresAt}) ON CONFLICT DO NOTHING RETURNING state_hash`;
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
           COALESCE((SELECT jsonb_agg(m.group_name ORDER BY m.group_name) FROM user_group_membership m WHERE m.user_email = u.email AND m.source = 'idp'), '[]'::jsonb) AS idp_groups,
           ${sid ?? null}::text IS NOT NULL AND EXISTS (SELECT 1 FROM auth_revoked_sessions r WHERE r.sid = ${sid ?? null}::text) AS revoked
    FROM users u WHERE u.email = ${email.toLowerCase()}`;
  const r = rows[0];
  if (!r || r.revoked) return null;
  const list = (v: unknown) => ((typeof v === "string" ? JSON.parse(v) : v) as unknown[]).map(String);
  return {
    email: String(r.email),
    displayName: String(r.display_name),
    isAdmin: Boolean(r.is_admin),
    groups: list(r.groups),
    idpGroups: list(r.idp_groups),
  };
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

/**
 * Makes the user's IdP-sourced memberships match the IdP's groups: adds a membership (source
 * 'idp') for each IdP group the gateway knows (the built-in `mcp-admin` is created when named) and
 * the user is not yet in, removes IdP-sourced ones the IdP no longer names. Admin-set memberships
 * are never touched. Writes only when something changes (every write bumps the catalog version).
 * Returns the facts after the change.
 */
export async function syncIdpGroups(
  sql: Sql,
  facts: UserFacts,
  idpGroups: string[],
  adminGroup: string,
): Promise<UserFacts> {
  const wanted = new Set(idpGroups.map((g) => g.toLowerCase()));
  const remove = facts.idpGroups.filter((g) => !wanted.has(g));
  const candidates = [...wanted].filter((g) => !facts.groups.includes(g));
  if (!remove.length && !candidates.length) return facts;
  let add: string[] = [];
  if (candidates.length) {
    if (candidates.includes(adminGroup))
      await sql`INSERT INTO groups (name, description) VALUES (${adminGroup}, 'Administrators: see every server') ON CONFLICT DO NOTHING`;
    const known =
      await sql`SELECT name FROM groups WHERE name IN (SELECT jsonb_array_elements_text(${sql.json(candidates)}))`;
    add = known.map((r) => String(r.name));
  }
  if (!remove.length && !add.length) return facts;
  await sql.begin(async (tx) => {
    if (remove.length) {
      await tx`DELETE FROM user_group_membership WHERE user_email = ${facts.email} AND source = 'idp' AND group_name IN (SELECT jsonb_array_elements_text(${tx.json(remove)}))`;
    }
    if (add.length) {
      await tx`INSERT INTO user_group_membership (user_email, group_name, source)
               SELECT ${facts.email}, g, 'idp' FROM jsonb_array_elements_text(${tx.json(add)}) AS g ON CONFLICT DO NOTHING`;
    }
  });
  return (await userFacts(sql, facts.email)) ?? facts;
}
