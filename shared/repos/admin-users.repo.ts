/**
 * Users as the admin worker manages them: profile, admin flag and group memberships, replaced
 * as a whole.
 */
import type { Db } from "./audit.repo";

export interface AdminUser {
  email: string;
  name: string;
  admin: boolean;
  /** Every membership, whatever its source. */
  groups: string[];
  /** The memberships the identity provider manages (source 'idp'; the auth worker syncs them at login). */
  idpGroups: string[];
  /** Live (not revoked, not expired) API keys. */
  activeKeys: number;
  createdAt: Date;
  lastLoginAt: Date | null;
}

export interface UserInput {
  /** The admin-managed memberships (source 'admin'); IdP memberships are left alone. */
  groups: string[];
  admin: boolean;
  /** Display name; undefined keeps the stored one. */
  name?: string;
}

function toUser(r: Record<string, unknown>): AdminUser {
  return {
    email: String(r.email),
    name: String(r.display_name ?? ""),
    admin: Boolean(r.is_admin),
    groups: ((r.groups as string[] | null) ?? []).slice(),
    idpGroups: ((r.idp_groups as string[] | null) ?? []).slice(),
    activeKeys: Number(r.active_keys ?? 0),
    createdAt: new Date(r.created_at as string),
    lastLoginAt: r.last_login_at ? new Date(r.last_login_at as string) : null,
  };
}

/** Every user with groups and live key count, by email. */
export async function listUsers(db: Db): Promise<AdminUser[]> {
  const rows = await db`
    SELECT u.*,
      COALESCE((SELECT jsonb_agg(m.group_name ORDER BY m.group_name) FROM user_group_membership m WHERE m.user_email = u.email), '[]'::jsonb) AS groups,
      COALESCE((SELECT jsonb_agg(m.group_name ORDER BY m.group_name) FROM user_group_membership m WHERE m.user_email = u.email AND m.source = 'idp'), '[]'::jsonb) AS idp_groups,
      (SELECT count(*) FROM api_keys k WHERE k.user_email = u.email AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())) AS active_keys
    FROM users u ORDER BY u.email`;
  return rows.map(toUser);
}

/** One user (email already lower-case), or null. */
/** Whether the user has the admin flag itself (not admin through a group). */
export async function hasAdminFlag(db: Db, email: string): Promise<boolean> {
  const [row] = await db`SELECT is_admin FROM users WHERE email = ${email.toLowerCase()}`;
  return Boolean(row?.is_admin);
}

export async function getAdminUser(db: Db, email: string, lock = false): Promise<AdminUser | null> {
  const rows = lock
    ? await db`SELECT u.*, '[]'::jsonb AS groups, 0 AS active_keys FROM users u WHERE u.email = ${email} FOR UPDATE`
    : await db`SELECT u.*, '[]'::jsonb AS groups, 0 AS active_keys FROM users u WHERE u.email = ${email}`;
  if (!rows[0]) return null;
  const [groups, [keys]] = await Promise.all([
    db`SELECT group_name, source FROM user_group_membership WHERE user_email = ${email} ORDER BY group_name`,
    db`SELECT count(*) AS n FROM api_keys WHERE user_email = ${email} AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
  ]);
  return {
    ...toUser(rows[0]),
    groups: groups.map((g) => String(g.group_name)),
    idpGroups: groups.filter((g) => g.source === "idp").map((g) => String(g.group_name)),
    activeKeys: Number(keys?.n ?? 0),
  };
}

/**
 * Creates or replaces a user: the admin flag and the admin-managed memberships become exactly `u`.
 * A listed group the IdP already grants becomes admin-managed (it stays when the IdP drops it).
 */
export async function upsertUser(db: Db, email: string, u: UserInput): Promise<void> {
  await db`INSERT INTO users (email, display_name, is_admin) VALUES (${email}, ${u.name ?? ""}, ${u.admin})
           ON CONFLICT (email) DO UPDATE SET display_name = COALESCE(${u.name ?? null}::text, users.display_name), is_admin = EXCLUDED.is_admin
           WHERE (users.display_name, users.is_admin) IS DISTINCT FROM (COALESCE(${u.name ?? null}::text, users.display_name), EXCLUDED.is_admin)`;
  await db`DELETE FROM user_group_membership WHERE user_email = ${email} AND source = 'admin'
           AND NOT (group_name IN (SELECT jsonb_array_elements_text(${db.json(u.groups)})))`;
  for (const g of u.groups) {
    await db`INSERT INTO user_group_membership (user_email, group_name, source) VALUES (${email}, ${g}, 'admin')
             ON CONFLICT (user_email, group_name) DO UPDATE SET source = 'admin' WHERE user_group_membership.source <> 'admin'`;
  }
}

/** Deletes a user (memberships and keys go with it). */
export async function deleteUser(db: Db, email: string): Promise<boolean> {
  const rows = await db`DELETE FROM users WHERE email = ${email} RETURNING email`;
  return rows.length > 0;
}
