/** Users and their group memberships. Emails are lower-cased before every query. */
import type { Sql } from "../db";
import { UserRow } from "../schemas";

export async function getUser(sql: Sql, email: string): Promise<UserRow | null> {
  const rows =
    await sql`SELECT email, display_name, is_admin, created_at, last_login_at FROM users WHERE email = ${email.toLowerCase()}`;
  return rows[0] ? UserRow.parse(rows[0]) : null;
}

export async function userGroups(sql: Sql, email: string): Promise<string[]> {
  const rows =
    await sql`SELECT group_name FROM user_group_membership WHERE user_email = ${email.toLowerCase()} ORDER BY group_name`;
  return rows.map((r) => String(r.group_name));
}

/** Creates the user if missing (first login); returns the row. */
export async function ensureUser(sql: Sql, email: string, displayName = ""): Promise<UserRow> {
  const [row] = await sql`
    INSERT INTO users (email, display_name) VALUES (${email.toLowerCase()}, ${displayName})
    ON CONFLICT (email) DO UPDATE SET display_name = CASE WHEN users.display_name = '' THEN EXCLUDED.display_name ELSE users.display_name END
    RETURNING email, display_name, is_admin, created_at, last_login_at`;
  return UserRow.parse(row);
}
