/**
 * One place that starts the whole system for a test file: its own database, the real workers
 * under workerd (bundled once by the global setup), real upstream MCP servers when asked.
 *
 *   const t = await startTestStack({ demo: true });
 *   const res = await t.fetch("/admin/api/tenants", { key: t.adminKey });
 *   afterAll(() => t.stop());
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomToken } from "../../shared/crypto";
import { generateApiKey, insertApiKey } from "../../shared/repos/apikeys.repo";
import { sealServerHeaders } from "../../shared/repos/servers.repo";
import { keyRing, SecretsKeyList, type KeyRing } from "../../shared/secrets";
import { SERVICE_ASSERTION_HEADER, signServiceAssertion, type ServiceName } from "../../shared/service-auth";
import { startStack, type Stack, type StackOptions } from "../../scripts/lib/stack";
import { createTestDatabase, type TestDatabase } from "./db";
import { browserLogin, type LoginResult } from "./login";

export interface TestStack extends Stack {
  db: TestDatabase;
  adminKey: string;
  /** fetch against the public origin; `key` sets `Authorization: Bearer`. */
  fetch(path: string, init?: RequestInit & { key?: string; json?: unknown }): Promise<Response>;
  /** Creates (or updates) a user with groups and returns a fresh API key for them. */
  userKey(email: string, opts?: { groups?: string[]; admin?: boolean }): Promise<string>;
  /**
   * Logs a user of the local OIDC provider in through the real browser flow (over HTTP) and
   * returns the session cookie (`cookie`: a ready Cookie header). Password: the demo user's.
   */
  login(email: string, opts?: { password?: string; rd?: string }): Promise<LoginResult>;
  /** The headers an internal call to the catalog carries when `from` makes it (default mcp): the service assertion. */
  serviceHeaders(from?: ServiceName): Promise<Record<string, string>>;
  /** fetch against the catalog's internal socket (`internalPort`), as the mcp worker calls it. */
  internal(path: string, init?: RequestInit): Promise<Response>;
  /** The workers' key ring (SECRETS_KEY, SECRETS_KEY_PREVIOUS). */
  keyRing(): Promise<KeyRing>;
  /** `headers` sealed for server `id` as the admin API stores them: for servers a test inserts with SQL. */
  sealedHeaders(id: string, headers: Record<string, string>): Promise<Record<string, string>>;
}

export interface TestStackOptions extends Omit<StackOptions, "databaseUrl" | "port" | "build"> {
  /**
   * "test" (default): IDENTITY_VERSION_TTL_MS and MCP_CATALOG_TTL_MS 0, so a test that changes a
   * grant sees it at the next request. "production": the workers' defaults, for the tests of the
   * CONTRACT's 2-second promise (test/harness/contract.ts), which TTL 0 would hide.
   */
  caches?: "test" | "production";
}

export async function startTestStack(opts: TestStackOptions = {}): Promise<TestStack> {
  const db = await createTestDatabase({ migrate: false });
  const dataDir = mkdtempSync(join(tmpdir(), "mcpgw-stack-"));
  // the operator's own ADMIN_API_KEY when the test gives one (any printable string of 16-200 characters)
  const adminKey = opts.adminApiKey ?? `mcpgw_testadmin_${randomToken(24)}`;
  let stack: Stack;
  try {
    // IDENTITY_VERSION_TTL_MS=0: the auth worker checks the catalog version on every request, so
    // tests that change a grant and ask again at once see it (production default: 500 ms, within
    // the CONTRACT's 2 s). MCP_CATALOG_TTL_MS=0 likewise: the mcp worker revalidates its cached
    // catalog on every request. `caches: "production"` keeps the defaults: the tests of the 2 s
    // promise (propagation, perf-*-cache, admin-ui) run so.
    const { caches, ...rest } = opts;
    const env = {
      ...(caches === "production" ? {} : { IDENTITY_VERSION_TTL_MS: "0", MCP_CATALOG_TTL_MS: "0" }),
      ...opts.env,
    };
    stack = await startStack({
      demo: false,
      ...rest,
      adminApiKey: adminKey,
      env,
      port: 0,
      build: false,
      databaseUrl: db.url,
      dataDir,
    });
  } catch (err) {
    await db.drop();
    throw err;
  }
  const t = stack as TestStack;
  t.db = db;
  t.adminKey = adminKey;
  t.fetch = (path, init = {}) => {
    const headers = new Headers(init.headers);
    if (init.key) headers.set("authorization", `Bearer ${init.key}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(init.json);
    }
    return fetch(stack.url + path, { ...init, headers, body, redirect: "manual" });
  };
  t.userKey = async (email, o = {}) => {
    const sql = db.sql;
    await sql`INSERT INTO users (email, is_admin) VALUES (${email.toLowerCase()}, ${o.admin ?? false})
              ON CONFLICT (email) DO UPDATE SET is_admin = EXCLUDED.is_admin`;
    for (const g of o.groups ?? []) {
      await sql`INSERT INTO groups (name) VALUES (${g}) ON CONFLICT DO NOTHING`;
      await sql`INSERT INTO user_group_membership (user_email, group_name) VALUES (${email.toLowerCase()}, ${g}) ON CONFLICT DO NOTHING`;
    }
    const k = await generateApiKey();
    await insertApiKey(sql, email.toLowerCase(), "test", k);
    return k.key;
  };
  t.login = async (email, o = {}) => {
    const user = stack.idp?.users.find((u) => u.email === email.toLowerCase());
    if (!stack.idp) throw new Error("the local OIDC provider is not running in this stack");
    return browserLogin(stack.url, email, o.password ?? user?.password ?? "", { rd: o.rd });
  };
  t.serviceHeaders = async (from = "mcp") => ({
    [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(stack.workerEnv.SERVICE_SECRET!, from, "catalog"),
  });
  t.internal = async (path, init = {}) => {
    if (!stack.internalUrl) throw new Error("startTestStack({ internalPort: 0 }) serves the catalog's internal routes");
    const headers = new Headers(init.headers);
    for (const [k, v] of Object.entries(await t.serviceHeaders())) if (!headers.has(k)) headers.set(k, v);
    return fetch(stack.internalUrl + path, { ...init, headers });
  };
  t.keyRing = () =>
    keyRing({
      SECRETS_KEY: stack.workerEnv.SECRETS_KEY!,
      SECRETS_KEY_PREVIOUS: SecretsKeyList.parse(stack.workerEnv.SECRETS_KEY_PREVIOUS),
    });
  t.sealedHeaders = async (id, headers) => sealServerHeaders(await t.keyRing(), id, headers);
  const stop = stack.stop;
  t.stop = async () => {
    await stop();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return t;
}
