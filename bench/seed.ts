/** The benchmarks' data: a tenant with its servers, a group granted it, and one user of it with an API key. */
import type { Sql } from "../shared/db";
import { generateApiKey, insertApiKey } from "../shared/repos/apikeys.repo";

/**
 * Creates tenant `tenant` (name `name`) with `servers`, group `<tenant>-users` mapped to it, and
 * user `email` in that group.
 * @returns the user's API key (the full secret)
 */
export async function seedTenantUser(
  sql: Sql,
  o: { tenant: string; name: string; servers: { id: string; url: string }[]; email: string },
): Promise<string> {
  const group = `${o.tenant}-users`;
  await sql`INSERT INTO tenants (id, name) VALUES (${o.tenant}, ${o.name})`;
  for (const s of o.servers)
    await sql`INSERT INTO servers (id, tenant_id, url) VALUES (${s.id}, ${o.tenant}, ${s.url})`;
  await sql`INSERT INTO groups (name) VALUES (${group})`;
  await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES (${group}, ${o.tenant})`;
  await sql`INSERT INTO users (email) VALUES (${o.email})`;
  await sql`INSERT INTO user_group_membership (user_email, group_name) VALUES (${o.email}, ${group})`;
  const k = await generateApiKey();
  await insertApiKey(sql, o.email, "bench", k);
  return k.key;
}
