/**
 * The declarative tenants file (YAML or JSON) that replaces the old static `tenants.py`:
 * tenants with their servers, groups with their tenants and tool rules, users with their groups,
 * and admins. `importTenants` upserts it in one transaction (idempotent; nothing outside the file
 * is deleted unless `prune` is set); `exportTenants` writes the current state back in the same
 * shape, with secret header values replaced by `${SERVER_HEADER}` references unless asked for.
 * Header values are stored sealed (shared/secrets.ts): both need the key ring (SECRETS_KEY) for
 * that, and a file without secret headers imports without one.
 * A server's per-user credential settings (`credentials`, shared/credentials.ts: mode, header,
 * prefix, OAuth client and endpoints) go both ways too; the OAuth client secret is a secret like
 * the header values (`${SERVER_OAUTH_CLIENT_SECRET}` in an export, in clear only with
 * `withSecrets`). A server without `credentials` is `shared`; users' own tokens are never in the
 * file, and a change of a server's URL, mode, header, client id or resource deletes them in the
 * import's transaction and revokes them at their authorization server after it (best effort, as
 * the admin API does; shared/credentials.ts connectionsFit).
 */
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { z } from "zod";
import { connectionsFit, CredentialsInput, StoredCredentials } from "../../shared/credentials";
import type { Sql } from "../../shared/db";
import { revokeDropped, type DroppedConnections } from "../../shared/oauth.revoke";
import { dropServerConnections } from "../../shared/repos/connections.repo";
import { assertKeysKnown } from "../../shared/repos/secrets.repo";
import {
  credentialsToStore,
  headersToStore,
  openClientSecret,
  openServerHeaders,
} from "../../shared/repos/servers.repo";
import { Email, GroupName, HeaderMap, Slug, UpstreamUrl } from "../../shared/schemas";
import { SecretsError, type KeyRing } from "../../shared/secrets";

const ServerSpec = z.strictObject({
  url: UpstreamUrl,
  transport: z.enum(["streamable-http", "sse"]).default("streamable-http"),
  headers: HeaderMap.default({}),
  enabled: z.boolean().default(true),
  description: z.string().max(500).default(""),
  /** Per-user credential settings; omitted: `shared` (the headers above, the same for every user). */
  credentials: CredentialsInput.optional(),
});

const TenantSpec = z.strictObject({
  name: z.string().min(1).max(200),
  servers: z.record(Slug, ServerSpec).default({}),
});

const ToolRulesSpec = z.strictObject({
  allow: z.array(z.string().min(1).max(128)).default([]),
  deny: z.array(z.string().min(1).max(128)).default([]),
});

const GroupSpec = z.strictObject({
  description: z.string().max(500).default(""),
  tenants: z.array(Slug).default([]),
  /** server id -> tool rules */
  tools: z.record(Slug, ToolRulesSpec).default({}),
});

const UserSpec = z.strictObject({
  name: z.string().max(200).default(""),
  groups: z.array(GroupName).default([]),
});

export const TenantsFile = z.strictObject({
  tenants: z.record(Slug, TenantSpec).default({}),
  groups: z.record(GroupName, GroupSpec).default({}),
  users: z.record(Email, UserSpec).default({}),
  admins: z.array(Email).default([]),
});
export type TenantsFile = z.infer<typeof TenantsFile>;

export class TenantsFileError extends Error {}

/** `${NAME}` in header values is replaced from `env`; a missing variable is an error naming it. */
function interpolate(value: string, env: Record<string, string | undefined>, where: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined) throw new TenantsFileError(`${where}: environment variable ${name} is not set`);
    return v;
  });
}

/** Parses and validates a tenants file; checks every reference. */
export function parseTenantsFile(text: string, env: Record<string, string | undefined> = process.env): TenantsFile {
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML is a superset of JSON
  } catch (err) {
    throw new TenantsFileError(`not valid YAML or JSON: ${(err as Error).message}`);
  }
  const parsed = TenantsFile.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TenantsFileError(`${issue.path.join(".") || "(file)"}: ${issue.message}`);
  }
  const file = parsed.data;
  const serverIds = new Map<string, string>();
  for (const [tenant, t] of Object.entries(file.tenants)) {
    for (const [id, s] of Object.entries(t.servers)) {
      if (serverIds.has(id))
        throw new TenantsFileError(
          `tenants.${tenant}.servers.${id}: server id already used by tenant ${serverIds.get(id)}`,
        );
      serverIds.set(id, tenant);
      for (const [h, v] of Object.entries(s.headers))
        s.headers[h] = interpolate(v, env, `tenants.${tenant}.servers.${id}.headers.${h}`);
      const oauth = s.credentials?.oauth;
      if (oauth?.clientSecret !== undefined)
        oauth.clientSecret = interpolate(
          oauth.clientSecret,
          env,
          `tenants.${tenant}.servers.${id}.credentials.oauth.clientSecret`,
        );
    }
  }
  for (const [g, spec] of Object.entries(file.groups)) {
    for (const t of spec.tenants)
      if (!file.tenants[t]) throw new TenantsFileError(`groups.${g}.tenants: unknown tenant ${t}`);
    for (const s of Object.keys(spec.tools))
      if (!serverIds.has(s)) throw new TenantsFileError(`groups.${g}.tools: unknown server ${s}`);
  }
  for (const [u, spec] of Object.entries(file.users)) {
    for (const g of spec.groups)
      if (!file.groups[g]) throw new TenantsFileError(`users.${u}.groups: unknown group ${g}`);
  }
  return file;
}

export interface ImportOptions {
  /** Delete tenants, servers, groups and memberships that the file does not name. Default false. */
  prune?: boolean;
  /** Who is recorded in the audit log. Default "import". */
  actor?: string;
  /** Seals the header values (SECRETS_KEY); needed when the file has any. */
  ring?: KeyRing;
}

/** Upserts the file's content in one transaction. Returns counts of what the file holds. */
export async function importTenants(
  sql: Sql,
  file: TenantsFile,
  opts: ImportOptions = {},
): Promise<Record<string, number>> {
  try {
    return await importTenantsTx(sql, file, opts);
  } catch (err) {
    if (err instanceof SecretsError) throw new TenantsFileError(err.message);
    throw err;
  }
}

async function importTenantsTx(sql: Sql, file: TenantsFile, opts: ImportOptions): Promise<Record<string, number>> {
  const actor = opts.actor ?? "import";
  const dropped: DroppedConnections[] = [];
  await sql.begin(async (tx) => {
    // a wrong SECRETS_KEY is refused before anything is sealed with it
    if (opts.ring) await assertKeysKnown(tx, opts.ring);
    for (const [id, t] of Object.entries(file.tenants)) {
      await tx`INSERT INTO tenants (id, name) VALUES (${id}, ${t.name})
               ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_at = now() WHERE tenants.name IS DISTINCT FROM EXCLUDED.name`;
      for (const [sid, s] of Object.entries(t.servers)) {
        // the same headers again keep the stored (sealed) ones: sealing twice never gives the same bytes
        const { store } = await headersToStore(tx, opts.ring ?? null, sid, s.headers);
        const headers = store === null ? null : tx.json(store);
        const creds = await credentialsToStore(
          tx,
          opts.ring ?? null,
          sid,
          await sameSecretKept(
            tx,
            opts.ring,
            sid,
            s.credentials ?? { mode: "shared", header: "Authorization", prefix: "Bearer " },
          ),
        );
        const credentials = tx.json(creds.store as never);
        await tx`INSERT INTO servers (id, tenant_id, url, transport, headers, credentials, enabled, description)
                 VALUES (${sid}, ${id}, ${s.url}, ${s.transport}, COALESCE(${headers}::jsonb, '{}'::jsonb), ${credentials}, ${s.enabled}, ${s.description})
                 ON CONFLICT (id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, url = EXCLUDED.url, transport = EXCLUDED.transport,
                   headers = COALESCE(${headers}::jsonb, servers.headers), credentials = EXCLUDED.credentials, enabled = EXCLUDED.enabled, description = EXCLUDED.description, updated_at = now()
                 WHERE (servers.tenant_id, servers.url, servers.transport, servers.headers, servers.credentials, servers.enabled, servers.description)
                   IS DISTINCT FROM (EXCLUDED.tenant_id, EXCLUDED.url, EXCLUDED.transport, COALESCE(${headers}::jsonb, servers.headers), EXCLUDED.credentials, EXCLUDED.enabled, EXCLUDED.description)`;
        // tokens obtained for another address, mode or client do not fit: users connect again
        const { previous } = creds;
        if (previous && !connectionsFit(previous, { url: s.url, credentials: creds.store ?? previous.credentials })) {
          const connections = await dropServerConnections(tx, sid, "server address or credentials changed");
          if (connections.length) dropped.push({ server: { id: sid, ...previous }, connections });
        }
      }
    }
    for (const [name, g] of Object.entries(file.groups)) {
      await tx`INSERT INTO groups (name, description) VALUES (${name}, ${g.description})
               ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description WHERE groups.description IS DISTINCT FROM EXCLUDED.description`;
      await tx`DELETE FROM group_tenant_mapping WHERE group_name = ${name} AND NOT (tenant_id IN (SELECT jsonb_array_elements_text(${tx.json(g.tenants)})))`;
      for (const t of g.tenants)
        await tx`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES (${name}, ${t}) ON CONFLICT DO NOTHING`;
      const rules = Object.entries(g.tools).flatMap(([server, r]) => [
        ...r.allow.map((tool) => ({ server, tool, effect: "allow" })),
        ...r.deny.map((tool) => ({ server, tool, effect: "deny" })),
      ]);
      const keep = rules.map((r) => `${r.server}\u0001${r.tool}\u0001${r.effect}`);
      await tx`DELETE FROM group_tool_rules WHERE group_name = ${name} AND NOT ((server_id || chr(1) || tool || chr(1) || effect) IN (SELECT jsonb_array_elements_text(${tx.json(keep)})))`;
      for (const r of rules) {
        await tx`INSERT INTO group_tool_rules (group_name, server_id, tool, effect) VALUES (${name}, ${r.server}, ${r.tool}, ${r.effect}) ON CONFLICT DO NOTHING`;
      }
    }
    const admins = new Set(file.admins);
    const emails = new Set([...Object.keys(file.users), ...admins]);
    for (const email of emails) {
      const u = file.users[email] ?? { name: "", groups: [] };
      await tx`INSERT INTO users (email, display_name, is_admin) VALUES (${email}, ${u.name}, ${admins.has(email)})
               ON CONFLICT (email) DO UPDATE SET display_name = EXCLUDED.display_name, is_admin = EXCLUDED.is_admin
               WHERE (users.display_name, users.is_admin) IS DISTINCT FROM (EXCLUDED.display_name, EXCLUDED.is_admin)`;
      await tx`DELETE FROM user_group_membership WHERE user_email = ${email} AND NOT (group_name IN (SELECT jsonb_array_elements_text(${tx.json(u.groups)})))`;
      for (const g of u.groups)
        await tx`INSERT INTO user_group_membership (user_email, group_name) VALUES (${email}, ${g}) ON CONFLICT DO NOTHING`;
    }
    if (opts.prune) {
      const servers = Object.values(file.tenants).flatMap((t) => Object.keys(t.servers));
      // the connections of the servers that go are revoked like those of a changed one
      for (const gone of await tx`SELECT id, url, credentials FROM servers WHERE NOT (id IN (SELECT jsonb_array_elements_text(${tx.json(servers)})))`) {
        const id = String(gone.id);
        const connections = await dropServerConnections(tx, id, "server deleted");
        const credentials = StoredCredentials.safeParse(gone.credentials).data;
        if (connections.length) dropped.push({ server: { id, url: String(gone.url), credentials }, connections });
      }
      await tx`DELETE FROM servers WHERE NOT (id IN (SELECT jsonb_array_elements_text(${tx.json(servers)})))`;
      await tx`DELETE FROM tenants WHERE NOT (id IN (SELECT jsonb_array_elements_text(${tx.json(Object.keys(file.tenants))})))`;
      await tx`DELETE FROM groups WHERE NOT (name IN (SELECT jsonb_array_elements_text(${tx.json(Object.keys(file.groups))})))`;
      await tx`DELETE FROM user_group_membership WHERE NOT (user_email IN (SELECT jsonb_array_elements_text(${tx.json([...emails])})))`;
      await tx`UPDATE users SET is_admin = false WHERE is_admin AND NOT (email IN (SELECT jsonb_array_elements_text(${tx.json([...admins])})))`;
    }
    await tx`INSERT INTO audit_log (kind, actor, action, target, detail)
             VALUES ('admin_change', ${actor}, 'import', 'tenants-file', ${tx.json({ tenants: Object.keys(file.tenants), groups: Object.keys(file.groups), users: emails.size, prune: Boolean(opts.prune) })})`;
  });
  // committed: the dropped connections' tokens are revoked where they were issued (their tokens
  // open only with the key ring; without one they are deleted here all the same)
  if (opts.ring) for (const d of dropped) await revokeDropped(opts.ring, d);
  return {
    tenants: Object.keys(file.tenants).length,
    servers: Object.values(file.tenants).reduce((n, t) => n + Object.keys(t.servers).length, 0),
    groups: Object.keys(file.groups).length,
    users: new Set([...Object.keys(file.users), ...file.admins]).size,
  };
}

/**
 * The same client secret as stored is left out, so the stored (sealed) one is kept: sealing
 * again would change the bytes and the server's version for nothing.
 */
async function sameSecretKept(
  tx: Parameters<typeof credentialsToStore>[0],
  ring: KeyRing | undefined,
  id: string,
  input: CredentialsInput,
): Promise<CredentialsInput> {
  const secret = input.oauth?.clientSecret;
  if (secret === undefined || !ring) return input;
  const [row] = await tx`SELECT credentials FROM servers WHERE id = ${id}`;
  const before = row ? StoredCredentials.safeParse(row.credentials).data : undefined;
  if (before?.oauth?.clientId !== input.oauth!.clientId) return input;
  const stored = await openClientSecret(ring, id, before).catch(() => null);
  if (stored !== secret) return input;
  const { clientSecret: _same, ...oauth } = input.oauth!;
  return { ...input, oauth };
}

/** The environment variable name an exported OAuth client secret refers to: SERVER_OAUTH_CLIENT_SECRET. */
export const clientSecretRef = (serverId: string) => secretRef(serverId, "OAUTH_CLIENT_SECRET");

/** The credential settings of a server as the file has them (none for `shared`). */
async function exportCredentials(
  id: string,
  raw: unknown,
  opts: { withSecrets?: boolean; ring?: KeyRing },
): Promise<CredentialsInput | undefined> {
  const c = StoredCredentials.safeParse(raw).data;
  if (!c || c.mode === "shared") return undefined;
  const out: CredentialsInput = { mode: c.mode, header: c.header ?? "Authorization", prefix: c.prefix ?? "Bearer " };
  if (c.oauth) {
    const o = c.oauth;
    let clientSecret: string | undefined;
    if (o.clientSecret) {
      try {
        clientSecret = opts.withSecrets
          ? ((await openClientSecret(opts.ring!, id, c)) ?? undefined)
          : `\${${clientSecretRef(id)}}`;
      } catch (err) {
        throw new TenantsFileError((err as Error).message);
      }
    }
    out.oauth = {
      ...(o.issuer !== undefined ? { issuer: o.issuer } : {}),
      ...(o.authorizationEndpoint !== undefined ? { authorizationEndpoint: o.authorizationEndpoint } : {}),
      ...(o.tokenEndpoint !== undefined ? { tokenEndpoint: o.tokenEndpoint } : {}),
      ...(o.revocationEndpoint !== undefined ? { revocationEndpoint: o.revocationEndpoint } : {}),
      clientId: o.clientId,
      ...(clientSecret !== undefined ? { clientSecret } : {}),
      scopes: o.scopes ?? "",
      ...(o.resource !== undefined ? { resource: o.resource } : {}),
    };
  }
  return out;
}

/** The environment variable name an exported secret header refers to: SERVER_HEADER. */
export function secretRef(serverId: string, header: string): string {
  return `${serverId}_${header}`.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
}

/**
 * Reads the current state in the tenants-file shape, keys sorted. `withSecrets` writes the header
 * values in clear (opened with `ring`, which it then needs); else `${SERVER_HEADER}` references.
 */
export async function exportTenants(
  sql: Sql,
  opts: { withSecrets?: boolean; ring?: KeyRing } = {},
): Promise<TenantsFile> {
  if (opts.withSecrets && !opts.ring)
    throw new TenantsFileError("--with-secrets needs SECRETS_KEY (the key the secrets are sealed with)");
  const [tenants, servers, groups, mappings, rules, users, members] = await Promise.all([
    sql`SELECT id, name FROM tenants ORDER BY id`,
    sql`SELECT id, tenant_id, url, transport, headers, credentials, enabled, description FROM servers ORDER BY id`,
    sql`SELECT name, description FROM groups ORDER BY name`,
    sql`SELECT group_name, tenant_id FROM group_tenant_mapping ORDER BY group_name, tenant_id`,
    sql`SELECT group_name, server_id, tool, effect FROM group_tool_rules ORDER BY group_name, server_id, effect, tool`,
    sql`SELECT email, display_name, is_admin FROM users ORDER BY email`,
    sql`SELECT user_email, group_name FROM user_group_membership ORDER BY user_email, group_name`,
  ]);
  const file: TenantsFile = { tenants: {}, groups: {}, users: {}, admins: [] };
  for (const t of tenants) file.tenants[t.id] = { name: t.name, servers: {} };
  for (const s of servers) {
    const headers: Record<string, string> = {};
    let stored = s.headers as Record<string, string>;
    if (opts.withSecrets) {
      try {
        stored = await openServerHeaders(opts.ring!, s.id, stored);
      } catch (err) {
        throw new TenantsFileError((err as Error).message);
      }
    }
    for (const [h, v] of Object.entries(stored).sort(([a], [b]) => a.localeCompare(b))) {
      headers[h] = opts.withSecrets ? v : `\${${secretRef(s.id, h)}}`;
    }
    const credentials = await exportCredentials(s.id, s.credentials, opts);
    file.tenants[s.tenant_id]!.servers[s.id] = {
      url: s.url,
      transport: s.transport,
      headers,
      enabled: s.enabled,
      description: s.description,
      ...(credentials ? { credentials } : {}),
    };
  }
  for (const g of groups) file.groups[g.name] = { description: g.description, tenants: [], tools: {} };
  for (const m of mappings) file.groups[m.group_name]!.tenants.push(m.tenant_id);
  for (const r of rules) {
    const tools = (file.groups[r.group_name]!.tools[r.server_id] ??= { allow: [], deny: [] });
    tools[r.effect as "allow" | "deny"].push(r.tool);
  }
  const grouped = new Map<string, string[]>();
  for (const m of members) grouped.set(m.user_email, [...(grouped.get(m.user_email) ?? []), m.group_name]);
  for (const u of users) {
    if (u.is_admin) file.admins.push(u.email);
    const g = grouped.get(u.email) ?? [];
    if (g.length || u.display_name || !u.is_admin) file.users[u.email] = { name: u.display_name, groups: g };
  }
  return file;
}

/** Serialises as YAML (default) or JSON. */
export function formatTenantsFile(file: TenantsFile, format: "yaml" | "json" = "yaml"): string {
  return format === "json" ? JSON.stringify(file, null, 2) + "\n" : stringifyYaml(file, { sortMapEntries: false });
}
