/** Groups: the tenants they grant and their per-server tool rules (allow/deny globs). */
import type { Db } from "./audit.repo";

export interface ToolRules {
  allow: string[];
  deny: string[];
}

export interface Group {
  name: string;
  description: string;
  tenants: string[];
  /** server id -> rules */
  tools: Record<string, ToolRules>;
  members: string[];
  createdAt: Date;
}

export interface GroupInput {
  description: string;
  tenants: string[];
  tools: Record<string, ToolRules>;
}

async function assemble(db: Db, rows: Record<string, unknown>[]): Promise<Group[]> {
  if (rows.length === 0) return [];
  const names = rows.map((r) => String(r.name));
  const [maps, rules, members] = await Promise.all([
    db`SELECT group_name, tenant_id FROM group_tenant_mapping WHERE group_name IN (SELECT jsonb_array_elements_text(${db.json(names)})) ORDER BY tenant_id`,
    db`SELECT group_name, server_id, tool, effect FROM group_tool_rules WHERE group_name IN (SELECT jsonb_array_elements_text(${db.json(names)})) ORDER BY server_id, tool`,
    db`SELECT group_name, user_email FROM user_group_membership WHERE group_name IN (SELECT jsonb_array_elements_text(${db.json(names)})) ORDER BY user_email`,
  ]);
  return rows.map((r) => {
    const name = String(r.name);
    const tools: Record<string, ToolRules> = {};
    for (const x of rules.filter((x) => x.group_name === name)) {
      const entry = (tools[String(x.server_id)] ??= { allow: [], deny: [] });
      (x.effect === "allow" ? entry.allow : entry.deny).push(String(x.tool));
    }
    return {
      name,
      description: String(r.description ?? ""),
      tenants: maps.filter((m) => m.group_name === name).map((m) => String(m.tenant_id)),
      tools,
      members: members.filter((m) => m.group_name === name).map((m) => String(m.user_email)),
      createdAt: new Date(r.created_at as string),
    };
  });
}

/** Every group with tenants, tool rules and members, by name. */
export async function listGroups(db: Db): Promise<Group[]> {
  return assemble(db, await db`SELECT * FROM groups ORDER BY name`);
}

/** One group, or null. */
export async function getGroup(db: Db, name: string, lock = false): Promise<Group | null> {
  const rows = lock
    ? await db`SELECT * FROM groups WHERE name = ${name} FOR UPDATE`
    : await db`SELECT * FROM groups WHERE name = ${name}`;
  return (await assemble(db, rows))[0] ?? null;
}

/** Names among `names` that are not groups. */
export async function missingGroups(db: Db, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const rows = await db`SELECT name FROM groups WHERE name IN (SELECT jsonb_array_elements_text(${db.json(names)}))`;
  const found = new Set(rows.map((r) => String(r.name)));
  return names.filter((n) => !found.has(n));
}

/** Ids among `ids` that are not tenants. */
export async function missingTenants(db: Db, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db`SELECT id FROM tenants WHERE id IN (SELECT jsonb_array_elements_text(${db.json(ids)}))`;
  const found = new Set(rows.map((r) => String(r.id)));
  return ids.filter((n) => !found.has(n));
}

/** Ids among `ids` that are not servers. */
export async function missingServers(db: Db, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db`SELECT id FROM servers WHERE id IN (SELECT jsonb_array_elements_text(${db.json(ids)}))`;
  const found = new Set(rows.map((r) => String(r.id)));
  return ids.filter((n) => !found.has(n));
}

/** Creates or replaces a group: its description, tenants and tool rules become exactly `g`. */
export async function upsertGroup(db: Db, name: string, g: GroupInput): Promise<void> {
  await db`INSERT INTO groups (name, description) VALUES (${name}, ${g.description})
           ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description WHERE groups.description IS DISTINCT FROM EXCLUDED.description`;
  await db`DELETE FROM group_tenant_mapping WHERE group_name = ${name} AND NOT (tenant_id IN (SELECT jsonb_array_elements_text(${db.json(g.tenants)})))`;
  for (const t of g.tenants)
    await db`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES (${name}, ${t}) ON CONFLICT DO NOTHING`;
  const rules = Object.entries(g.tools).flatMap(([server, r]) => [
    ...r.allow.map((tool) => ({ server, tool, effect: "allow" })),
    ...r.deny.map((tool) => ({ server, tool, effect: "deny" })),
  ]);
  const keep = rules.map((r) => `${r.server}\u0001${r.tool}\u0001${r.effect}`);
  await db`DELETE FROM group_tool_rules WHERE group_name = ${name}
           AND NOT ((server_id || chr(1) || tool || chr(1) || effect) IN (SELECT jsonb_array_elements_text(${db.json(keep)})))`;
  for (const r of rules) {
    await db`INSERT INTO group_tool_rules (group_name, server_id, tool, effect) VALUES (${name}, ${r.server}, ${r.tool}, ${r.effect}) ON CONFLICT DO NOTHING`;
  }
}

/** Deletes a group (memberships, tenant mappings and rules go with it). */
export async function deleteGroup(db: Db, name: string): Promise<boolean> {
  const rows = await db`DELETE FROM groups WHERE name = ${name} RETURNING name`;
  return rows.length > 0;
}

/** Every group -> tenant grant, by group name. */
export async function listTenantGrants(db: Db): Promise<{ group: string; tenant: string }[]> {
  const rows = await db`SELECT group_name, tenant_id FROM group_tenant_mapping ORDER BY group_name, tenant_id`;
  return rows.map((r) => ({ group: String(r.group_name), tenant: String(r.tenant_id) }));
}
