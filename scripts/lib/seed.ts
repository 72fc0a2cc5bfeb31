/**
 * Demo data and the bootstrap admin. The demo mirrors the old `tenants.py` examples:
 * joelalama@google.com sees the Google and GitHub tenants, miketest@microsoft.com only
 * Microsoft, admins everything.
 */
import type { Sql } from "../../shared/db";
import { API_KEY_PREFIX, generateApiKey, insertApiKey } from "../../shared/repos/apikeys.repo";
import { AdminApiKey, Email } from "../../shared/schemas";
import { sha256Hex } from "../../shared/crypto";
import { importTenants, type TenantsFile } from "./tenants-file";
import type { Upstream } from "./upstreams";
import type { KeyRing } from "../../shared/secrets";

export function demoTenants(upstreams: Upstream[]): TenantsFile {
  const url = (id: string) => upstreams.find((u) => u.id === id)?.url ?? `http://127.0.0.1:1/${id}`;
  // each demo upstream's credential for this start, stored as the server's secret header
  const headers = (id: string) => upstreams.find((u) => u.id === id)?.headers ?? {};
  const server = (id: string, description: string) => ({ url: url(id), transport: "streamable-http" as const, headers: headers(id), enabled: true, description });
  return {
    tenants: {
      google: {
        name: "Google",
        servers: {
          everything: server("everything", "MCP reference server with every feature"),
          modern: server("modern", "MCP 2026-07-28 server (SDK 2.x, stateless): every modern feature"),
        },
      },
      github: { name: "GitHub", servers: { memory: server("memory", "Knowledge-graph memory") } },
      microsoft: { name: "Microsoft", servers: { files: server("files", "Files under .data/files") } },
    },
    groups: {
      "google-users": { description: "Google staff", tenants: ["google", "github"], tools: {} },
      "microsoft-users": { description: "Microsoft staff", tenants: ["microsoft"], tools: {} },
      "mcp-admin": { description: "Sees every server", tenants: [], tools: {} },
    },
    users: {
      "joelalama@google.com": { name: "Joe Lalama", groups: ["google-users"] },
      "miketest@microsoft.com": { name: "Mike Test", groups: ["microsoft-users"] },
    },
    admins: [],
  };
}

/** Seeds the demo tenants; their servers' headers (each demo upstream's per-start token) are sealed with `ring`. */
export async function seedDemo(sql: Sql, upstreams: Upstream[], ring: KeyRing): Promise<void> {
  await importTenants(sql, demoTenants(upstreams), { actor: "demo-seed", ring });
}

/**
 * The part of an operator's key the admin API may show: the id of a gateway-style
 * `mcpgw_<id>_...` key, nothing of any other key (16 characters are all some keys have).
 */
export function shownPrefix(apiKey: string): string {
  const m = apiKey.startsWith(API_KEY_PREFIX) ? apiKey.slice(API_KEY_PREFIX.length).match(/^[A-Za-z0-9]{1,16}(?=_)/) : null;
  return m ? `${API_KEY_PREFIX}${m[0]}` : "(operator key)";
}

/**
 * Makes `email` an admin. With `apiKey` given, that key is accepted for the admin exactly as
 * given (stored hashed; any printable string of 16-200 characters, shared/schemas.ts AdminApiKey,
 * else this throws); otherwise, if the admin has no live key, one is generated and returned (to print once).
 */
export async function bootstrapAdmin(sql: Sql, email: string, apiKey?: string): Promise<string | null> {
  const address = Email.safeParse(email);
  if (!address.success) throw new Error(`ADMIN_EMAIL ${address.error.issues[0]!.message} (got ${JSON.stringify(email)})`);
  email = address.data;
  if (apiKey !== undefined) {
    const shape = AdminApiKey.safeParse(apiKey);
    if (!shape.success) throw new Error(`ADMIN_API_KEY ${shape.error.issues[0]!.message}`);
  }
  await sql`INSERT INTO users (email, is_admin) VALUES (${email}, true) ON CONFLICT (email) DO UPDATE SET is_admin = true WHERE NOT users.is_admin`;
  if (apiKey) {
    const hash = await sha256Hex(apiKey);
    // live for this admin whatever happened to it before (revoked, expired, another owner): the
    // environment says it is the admin's key
    const id = "bootstrap-" + hash.slice(0, 8);
    await sql`INSERT INTO api_keys (id, user_email, name, prefix, key_hash) VALUES (${id}, ${email}, 'ADMIN_API_KEY', ${shownPrefix(apiKey)}, ${hash})
              ON CONFLICT (key_hash) DO UPDATE SET user_email = EXCLUDED.user_email, prefix = EXCLUDED.prefix, revoked_at = NULL, expires_at = NULL
              WHERE api_keys.user_email IS DISTINCT FROM EXCLUDED.user_email OR api_keys.revoked_at IS NOT NULL OR api_keys.expires_at IS NOT NULL OR api_keys.prefix IS DISTINCT FROM EXCLUDED.prefix`;
    return null;
  }
  const [live] = await sql`SELECT id FROM api_keys WHERE user_email = ${email} AND revoked_at IS NULL LIMIT 1`;
  if (live) return null;
  const key = await generateApiKey();
  await insertApiKey(sql, email, "bootstrap", key);
  return key.key;
}
