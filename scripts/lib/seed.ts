/**
 * Demo data and the bootstrap admin. The demo mirrors the old `tenants.py` examples:
 * joelalama@google.com sees the Google and GitHub tenants, miketest@microsoft.com only
 * Microsoft, admins everything.
 */
import type { Sql } from "../../shared/db";
import { generateApiKey, insertApiKey } from "../../shared/repos/apikeys.repo";
import { sha256Hex } from "../../shared/crypto";
import { importTenants, type TenantsFile } from "./tenants-file";
import type { Upstream } from "./upstreams";

export function demoTenants(upstreams: Upstream[]): TenantsFile {
  const url = (id: string) => upstreams.find((u) => u.id === id)?.url ?? `http://127.0.0.1:1/${id}`;
  // each demo upstream's credential for this start, stored as the server's secret header
  const headers = (id: string) => upstreams.find((u) => u.id === id)?.headers ?? {};
  const server = (id: string, description: string) => ({ url: url(id), transport: "streamable-http" as const, headers: headers(id), enabled: true, description });
  return {
    tenants: {
      google: { name: "Google", servers: { everything: server("everything", "MCP reference server with every feature") } },
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

export async function seedDemo(sql: Sql, upstreams: Upstream[]): Promise<void> {
  await importTenants(sql, demoTenants(upstreams), { actor: "demo-seed" });
}

/**
 * Makes `email` an admin. With `apiKey` given, that key is accepted for the admin (stored
 * hashed); otherwise, if the admin has no live key, one is generated and returned (to print once).
 */
export async function bootstrapAdmin(sql: Sql, email: string, apiKey?: string): Promise<string | null> {
  email = email.toLowerCase();
  await sql`INSERT INTO users (email, is_admin) VALUES (${email}, true) ON CONFLICT (email) DO UPDATE SET is_admin = true WHERE NOT users.is_admin`;
  if (apiKey) {
    const hash = await sha256Hex(apiKey);
    const [found] = await sql`SELECT id FROM api_keys WHERE key_hash = ${hash}`;
    if (!found) {
      const id = "bootstrap-" + hash.slice(0, 8);
      await sql`INSERT INTO api_keys (id, user_email, name, prefix, key_hash) VALUES (${id}, ${email}, 'ADMIN_API_KEY', ${apiKey.slice(0, 10)}, ${hash})`;
    }
    return null;
  }
  const [live] = await sql`SELECT id FROM api_keys WHERE user_email = ${email} AND revoked_at IS NULL LIMIT 1`;
  if (live) return null;
  const key = await generateApiKey();
  await insertApiKey(sql, email, "bootstrap", key);
  return key.key;
}
