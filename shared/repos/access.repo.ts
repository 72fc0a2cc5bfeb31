/**
 * Who may use what: user -> groups -> tenants -> servers (-> tools through per-group rules).
 * Admins (users.is_admin, or members of the `mcp-admin` group) get every enabled server. Which
 * tools of a server a user sees is decided by shared/policy.ts.
 */
import type { Sql } from "../db";
import type { Grant } from "../policy";
import { ADMIN_GROUP, ServerRow, ToolRuleRow } from "../schemas";

export type { Grant };

export interface AccessServer {
  server: ServerRow;
  /** The group -> tenant links that grant this server; empty for admins granted by role. */
  grants: Grant[];
  /** Tool rules of the granting groups for this server. */
  rules: ToolRuleRow[];
}

export interface Access {
  email: string;
  /** Whether a users row exists. */
  known: boolean;
  isAdmin: boolean;
  groups: string[];
  servers: AccessServer[];
  /** catalog_state.version the answer was read at. */
  version: number;
}

/** The catalog version; changes whenever a grant, server, user or key changes. */
export async function catalogVersion(sql: Sql): Promise<number> {
  const [row] = await sql`SELECT version FROM catalog_state`;
  return Number(row?.version ?? 0);
}

/** Reads the effective access of one user in one round trip per table group. */
export async function loadAccess(sql: Sql, rawEmail: string): Promise<Access> {
  const email = rawEmail.trim().toLowerCase();
  const [[state], users, groups] = await Promise.all([
    sql`SELECT version FROM catalog_state`,
    sql`SELECT is_admin FROM users WHERE email = ${email}`,
    sql`SELECT group_name FROM user_group_membership WHERE user_email = ${email} ORDER BY group_name`,
  ]);
  const groupNames = groups.map((g) => String(g.group_name));
  const isAdmin = Boolean(users[0]?.is_admin) || groupNames.includes(ADMIN_GROUP);
  const serverRows = isAdmin
    ? await sql`SELECT * FROM servers WHERE enabled ORDER BY id`
    : await sql`
        SELECT DISTINCT s.* FROM servers s
        JOIN group_tenant_mapping m ON m.tenant_id = s.tenant_id
        JOIN user_group_membership g ON g.group_name = m.group_name
        WHERE g.user_email = ${email} AND s.enabled ORDER BY s.id`;
  const grantRows = groupNames.length
    ? await sql`
        SELECT m.group_name, m.tenant_id FROM group_tenant_mapping m
        WHERE m.group_name IN ${sql(groupNames)}`
    : [];
  const ruleRows = groupNames.length
    ? await sql`SELECT group_name, server_id, tool, effect FROM group_tool_rules WHERE group_name IN ${sql(groupNames)}`
    : [];
  const servers = serverRows.map((r) => {
    const server = ServerRow.parse(r);
    const grants = grantRows
      .filter((g) => g.tenant_id === server.tenant_id)
      .map((g) => ({ group: String(g.group_name), tenant: String(g.tenant_id) }));
    const rules = isAdmin ? [] : ruleRows.filter((x) => x.server_id === server.id).map((x) => ToolRuleRow.parse(x));
    return { server, grants, rules };
  });
  return { email, known: users.length > 0, isAdmin, groups: groupNames, servers, version: Number(state?.version ?? 0) };
}
