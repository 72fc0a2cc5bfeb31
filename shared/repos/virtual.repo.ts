/**
 * Virtual servers (migration 0012): `/mcp/<id>` gathers chosen tools of several servers, each
 * with an optional new name and description, granted to groups directly. The catalog resolves
 * them per user (workers/catalog/src/virtual.ts); this module only stores them.
 */
import type { Db } from "./audit.repo";

export interface VirtualTool {
  server: string;
  /** The real tool's upstream name. */
  tool: string;
  /** The name on the virtual endpoint (null: the tool's name as its server shows it). */
  name: string | null;
  /** The description on the virtual endpoint (null: the tool's as its server shows it). */
  description: string | null;
}

export interface VirtualServer {
  id: string;
  description: string;
  groups: string[];
  tools: VirtualTool[];
  createdAt: Date;
  updatedAt: Date;
}

/** Every virtual server (or one), with its groups and tools in order. */
export async function listVirtualServers(db: Db, only?: string): Promise<VirtualServer[]> {
  const [rows, groups, tools] = await Promise.all([
    db`SELECT id, description, created_at, updated_at FROM virtual_servers WHERE (${only ?? null}::text IS NULL OR id = ${only ?? null}) ORDER BY id`,
    db`SELECT virtual_id, group_name FROM virtual_server_groups WHERE (${only ?? null}::text IS NULL OR virtual_id = ${only ?? null}) ORDER BY group_name`,
    db`SELECT virtual_id, server_id, tool, name, description FROM virtual_tools WHERE (${only ?? null}::text IS NULL OR virtual_id = ${only ?? null}) ORDER BY virtual_id, position`,
  ]);
  return rows.map((r) => ({
    id: String(r.id),
    description: String(r.description ?? ""),
    groups: groups.filter((g) => g.virtual_id === r.id).map((g) => String(g.group_name)),
    tools: tools
      .filter((t) => t.virtual_id === r.id)
      .map((t) => ({
        server: String(t.server_id),
        tool: String(t.tool),
        name: (t.name as string | null) ?? null,
        description: (t.description as string | null) ?? null,
      })),
    createdAt: new Date(r.created_at as string),
    updatedAt: new Date(r.updated_at as string),
  }));
}

/** One virtual server, or null. */
export async function getVirtualServer(db: Db, id: string): Promise<VirtualServer | null> {
  return (await listVirtualServers(db, id))[0] ?? null;
}

/** Whether `id` names a virtual server. */
export async function virtualExists(db: Db, id: string): Promise<boolean> {
  return (await db`SELECT 1 FROM virtual_servers WHERE id = ${id}`).length > 0;
}

/** Creates or replaces a virtual server with exactly these groups and tools (call in a transaction). */
export async function replaceVirtualServer(
  db: Db,
  id: string,
  v: { description: string; groups: string[]; tools: VirtualTool[] },
): Promise<void> {
  await db`INSERT INTO virtual_servers (id, description) VALUES (${id}, ${v.description})
           ON CONFLICT (id) DO UPDATE SET description = EXCLUDED.description, updated_at = now()`;
  await db`DELETE FROM virtual_server_groups WHERE virtual_id = ${id}`;
  await db`DELETE FROM virtual_tools WHERE virtual_id = ${id}`;
  if (v.groups.length) {
    await db`INSERT INTO virtual_server_groups (virtual_id, group_name) SELECT ${id}, g FROM jsonb_array_elements_text(${db.json(v.groups)}) AS g`;
  }
  if (v.tools.length) {
    const rows = v.tools.map((t, position) => ({
      position,
      server: t.server,
      tool: t.tool,
      name: t.name,
      description: t.description,
    }));
    await db`INSERT INTO virtual_tools (virtual_id, position, server_id, tool, name, description)
             SELECT ${id}, r.position, r.server, r.tool, r.name, r.description
             FROM jsonb_to_recordset(${db.json(rows)}) AS r(position integer, server text, tool text, name text, description text)`;
  }
}

/** Deletes a virtual server; whether it existed. */
export async function deleteVirtualServer(db: Db, id: string): Promise<boolean> {
  return (await db`DELETE FROM virtual_servers WHERE id = ${id} RETURNING id`).length > 0;
}
