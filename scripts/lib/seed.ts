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
import { headersToStore } from "../../shared/repos/servers.repo";

export function demoTenants(upstreams: Upstream[]): TenantsFile {
  const url = (id: string) => upstreams.find((u) => u.id === id)?.url ?? `http://127.0.0.1:1/${id}`;
  // each demo upstream's credential for this start, stored as the server's secret header
  const headers = (id: string) => upstreams.find((u) => u.id === id)?.headers ?? {};
  const server = (id: string, description: string) => ({
    url: url(id),
    transport: "streamable-http" as const,
    headers: headers(id),
    enabled: true,
    description,
  });
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

/** What {@link seedDemo} did: seeded an empty database, reset the demo, or kept what is there. */
export type DemoSeed = "seeded" | "reset" | "kept" | "skipped";

/** A demo server's URL as {@link startDemoUpstreams} gives it: a loopback port, changed on every start. */
const DEMO_URL = /^http:\/\/127\.0\.0\.1:\d+\/mcp$/;

/**
 * The demo, seeded once: into an empty database (no tenants, groups or non-admin users, and no
 * earlier seed in the audit log), or again with `reset` (`npm start -- --reset-demo`: the demo's
 * tenants, servers, groups and users as first created; what lies outside them stays). Otherwise
 * nothing an admin set is touched: only the demo servers that still point at a demo upstream
 * (a loopback `/mcp` URL) get this start's URL and credential (each demo upstream has a new
 * port and token per start; their headers are sealed with `ring`). "skipped": the database holds
 * other data and was never seeded, so the demo is not mixed into it.
 */
export async function seedDemo(
  sql: Sql,
  upstreams: Upstream[],
  ring: KeyRing,
  opts: { reset?: boolean } = {},
): Promise<DemoSeed> {
  const demo = demoTenants(upstreams);
  if (opts.reset) {
    await importTenants(sql, demo, { actor: "demo-reset", ring });
    return "reset";
  }
  const [state] = await sql`
    SELECT EXISTS (SELECT 1 FROM audit_log WHERE actor IN ('demo-seed', 'demo-reset') AND action = 'import') AS seeded,
           EXISTS (SELECT 1 FROM tenants) OR EXISTS (SELECT 1 FROM groups) OR EXISTS (SELECT 1 FROM users WHERE NOT is_admin) AS data`;
  if (!state!.seeded && !state!.data) {
    await importTenants(sql, demo, { actor: "demo-seed", ring });
    return "seeded";
  }
  await sql.begin(async (tx) => {
    for (const u of upstreams) {
      const [row] = await tx`SELECT url FROM servers WHERE id = ${u.id} FOR UPDATE`;
      if (!row || !DEMO_URL.test(row.url as string)) continue;
      const { store } = await headersToStore(tx, ring, u.id, u.headers);
      const headers = store === null ? null : tx.json(store);
      await tx`UPDATE servers SET url = ${u.url}, headers = COALESCE(${headers}::jsonb, headers)
               WHERE id = ${u.id} AND (url IS DISTINCT FROM ${u.url} OR ${headers}::jsonb IS NOT NULL)`;
    }
  });
  return state!.seeded ? "kept" : "skipped";
}

/**
 * The part of an operator's key the admin API may show: the id of a gateway-style
 * `mcpgw_<id>_...` key, nothing of any other key (16 characters are all some keys have).
 */
export function shownPrefix(apiKey: string): string {
  const m = apiKey.startsWith(API_KEY_PREFIX)
    ? apiKey.slice(API_KEY_PREFIX.length).match(/^[A-Za-z0-9]{1,16}(?=_)/)
    : null;
  return m ? `${API_KEY_PREFIX}${m[0]}` : "(operator key)";
}

/**
 * Makes `email` an admin. With `apiKey` given, that key is accepted for the admin exactly as
 * given (stored hashed; any printable string of 16-200 characters, shared/schemas.ts AdminApiKey,
 * else this throws); otherwise, if the admin has no live key, one is generated and returned (to print once).
 */
export async function bootstrapAdmin(sql: Sql, email: string, apiKey?: string): Promise<string | null> {
  const address = Email.safeParse(email);
  if (!address.success)
    throw new Error(`ADMIN_EMAIL ${address.error.issues[0]!.message} (got ${JSON.stringify(email)})`);
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
