/** Tenants: the unit a group is granted; each server belongs to one. */
import type { Db } from "./audit.repo";

export interface Tenant {
  id: string;
  name: string;
  servers: string[];
  createdAt: Date;
  updatedAt: Date;
}

function toTenant(r: Record<string, unknown>): Tenant {
  return {
    id: String(r.id),
    name: String(r.name),
    servers: ((r.servers as string[] | null) ?? []).filter(Boolean),
    createdAt: new Date(r.created_at as string),
    updatedAt: new Date(r.updated_at as string),
  };
}

/** Every tenant with the ids of its servers, by id. */
export async function listTenants(db: Db): Promise<Tenant[]> {
  const rows = await db`
    SELECT t.*, COALESCE((SELECT jsonb_agg(s.id ORDER BY s.id) FROM servers s WHERE s.tenant_id = t.id), '[]'::jsonb) AS servers
    FROM tenants t ORDER BY t.id`;
  return rows.map(toTenant);
}

/** One tenant, or null. `lock` takes a row lock (inside a transaction). */
export async function getTenant(db: Db, id: string, lock = false): Promise<Tenant | null> {
  const rows = lock
    ? await db`SELECT t.*, '[]'::jsonb AS servers FROM tenants t WHERE t.id = ${id} FOR UPDATE`
    : await db`SELECT t.*, '[]'::jsonb AS servers FROM tenants t WHERE t.id = ${id}`;
  if (!rows[0]) return null;
  const servers = await db`SELECT id FROM servers WHERE tenant_id = ${id} ORDER BY id`;
  return { ...toTenant(rows[0]), servers: servers.map((s) => String(s.id)) };
}

/** Creates or replaces a tenant. */
export async function upsertTenant(db: Db, id: string, name: string): Promise<void> {
  await db`INSERT INTO tenants (id, name) VALUES (${id}, ${name})
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
           WHERE tenants.name IS DISTINCT FROM EXCLUDED.name`;
}

/** Deletes a tenant; fails with a foreign-key error (23503) while servers belong to it. */
export async function deleteTenant(db: Db, id: string): Promise<boolean> {
  const rows = await db`DELETE FROM tenants WHERE id = ${id} RETURNING id`;
  return rows.length > 0;
}
