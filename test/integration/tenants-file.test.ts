import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createTestDatabase, type TestDatabase } from "../harness/db";
import {
  exportTenants,
  formatTenantsFile,
  importTenants,
  parseTenantsFile,
  TenantsFileError,
} from "../../scripts/lib/tenants-file";
import { loadAccess } from "../../shared/repos/access.repo";
import { saveConnection } from "../../shared/repos/connections.repo";
import { randomToken } from "../../shared/crypto";
import { keyRing, type KeyRing } from "../../shared/secrets";

const examplePath = resolve(import.meta.dirname, "../../examples/tenants.example.yaml");
const example = readFileSync(examplePath, "utf8");
const env = { GITHUB_AUTHORIZATION: "Bearer ghp_example_secret" };

let db: TestDatabase;
let ring: KeyRing;
beforeAll(async () => {
  db = await createTestDatabase();
  ring = await keyRing({ SECRETS_KEY: randomToken(32), SECRETS_KEY_PREVIOUS: [] });
});
afterAll(() => db.drop());

describe("tenants file", () => {
  it("imports the example and exports the same content", async () => {
    await importTenants(db.sql, parseTenantsFile(example, env), { ring });
    const out = formatTenantsFile(await exportTenants(db.sql));
    expect(parse(out)).toEqual(parse(example));
    expect(out).toEqual(
      example
        .split("\n")
        .filter((l) => !l.startsWith("#"))
        .join("\n"),
    );
    expect(out).not.toContain("ghp_example_secret");
  });

  it("maps the old setup: Joe -> Google + GitHub, Mike -> Microsoft, admins -> all", async () => {
    const ids = async (email: string) =>
      (await loadAccess(db.sql, email)).servers.map((s) => s.server.tenant_id).sort();
    expect(await ids("joelalama@google.com")).toEqual(["github", "google"]);
    expect(await ids("JoeLalama@Google.com")).toEqual(["github", "google"]);
    expect(await ids("miketest@microsoft.com")).toEqual(["microsoft"]);
    expect(await ids("admin@example.com")).toEqual(["github", "google", "microsoft"]);
    expect(await ids("nobody@example.com")).toEqual([]);
  });

  it("is idempotent and keeps secrets as stored: sealed in the row, in clear with --with-secrets", async () => {
    const before = await exportTenants(db.sql, { withSecrets: true, ring });
    const [row] = await db.sql`SELECT headers, updated_at FROM servers WHERE id = 'github'`;
    expect(JSON.stringify(row)).not.toContain("ghp_example_secret");
    expect(row!.headers.Authorization).toMatch(/^mcpgw:v1:/);
    await importTenants(db.sql, parseTenantsFile(example, env), { ring });
    expect(await exportTenants(db.sql, { withSecrets: true, ring })).toEqual(before);
    expect(before.tenants.github!.servers.github!.headers).toEqual({ Authorization: "Bearer ghp_example_secret" });
    // the same file again rewrites nothing (sealing anew would change the bytes and the server's version)
    expect((await db.sql`SELECT headers, updated_at FROM servers WHERE id = 'github'`)[0]).toEqual(row);
  });

  it("needs the key for secrets, and refuses a key that did not seal the stored ones, writing nothing", async () => {
    await expect(importTenants(db.sql, parseTenantsFile(example, env))).rejects.toThrow(/SECRETS_KEY is not set/);
    await expect(exportTenants(db.sql, { withSecrets: true })).rejects.toThrow(/--with-secrets needs SECRETS_KEY/);
    const other = await keyRing({ SECRETS_KEY: randomToken(32), SECRETS_KEY_PREVIOUS: [] });
    const before = await db.sql`SELECT id, headers, updated_at FROM servers ORDER BY id`;
    await expect(
      importTenants(db.sql, parseTenantsFile(example, { GITHUB_AUTHORIZATION: "Bearer other" }), { ring: other }),
    ).rejects.toThrow(new RegExp(`sealed with key ${ring.currentId}`));
    await expect(exportTenants(db.sql, { withSecrets: true, ring: other })).rejects.toThrow(TenantsFileError);
    expect(await db.sql`SELECT id, headers, updated_at FROM servers ORDER BY id`).toEqual(before);
    // without --with-secrets no key is needed: references only
    expect((await exportTenants(db.sql)).tenants.github!.servers.github!.headers).toEqual({
      Authorization: "${GITHUB_AUTHORIZATION}",
    });
  });

  it("refuses bad files with the field named, and writes nothing", async () => {
    const bad = (text: string, pattern: RegExp) => expect(() => parseTenantsFile(text, env)).toThrow(pattern);
    bad("tenants: {Bad: {name: x}}", /tenants\.Bad/);
    bad("groups: {g: {tenants: [nope]}}", /groups\.g\.tenants: unknown tenant nope/);
    bad("users: {'not-an-email': {groups: []}}", /users\.not-an-email/);
    bad("tenants: {t: {name: T, servers: {s: {url: 'ftp://x'}}}}", /url/);
    bad("tenants: {t: {name: T, servers: {s: {url: 'http://x', headers: {A: '${MISSING_VAR}'}}}}}", /MISSING_VAR/);
    bad("{ not yaml", /not valid YAML/);
    expect(() => parseTenantsFile("x: 1", env)).toThrow(TenantsFileError);
  });

  it("prunes what the file does not name only when asked, the connections of a pruned server audited", async () => {
    await db.sql`INSERT INTO tenants (id, name) VALUES ('extra', 'Extra')`;
    await importTenants(db.sql, parseTenantsFile(example, env), { ring });
    expect((await db.sql`SELECT id FROM tenants WHERE id = 'extra'`).length).toBe(1);
    // a server the file does not name, with a user's connection: it goes, audited, with the server
    await db.sql`INSERT INTO servers (id, tenant_id, url, credentials) VALUES ('extra-srv', 'extra', 'https://extra.test/mcp', ${db.sql.json({ mode: "per-user-token" })})`;
    await db.sql`INSERT INTO users (email) VALUES ('erik@extra.test') ON CONFLICT DO NOTHING`;
    await saveConnection(db.sql, ring, "erik@extra.test", "extra-srv", { kind: "token", access: "erik-pat" });
    await importTenants(db.sql, parseTenantsFile(example, env), { prune: true, ring });
    expect((await db.sql`SELECT id FROM tenants WHERE id = 'extra'`).length).toBe(0);
    expect(await db.sql`SELECT 1 FROM user_connections WHERE server_id = 'extra-srv'`).toEqual([]);
    expect(
      (
        await db.sql`SELECT detail->>'reason' AS reason FROM audit_log WHERE action = 'connection.disconnect' AND actor = 'erik@extra.test'`
      ).map((r) => r.reason),
    ).toEqual(["server deleted"]);
  });
});

describe("tenants file: per-user credential settings", () => {
  const SECRET = "oauth-client-secret-4711";
  const file = `
tenants:
  acme:
    name: Acme
    servers:
      acme-gh:
        url: https://mcp.acme.test/github/mcp
        credentials:
          mode: per-user-oauth
          oauth:
            issuer: https://login.acme.test
            tokenEndpoint: https://login.acme.test/token
            revocationEndpoint: https://login.acme.test/revoke
            clientId: gateway-at-acme
            clientSecret: \${ACME_GH_OAUTH_CLIENT_SECRET}
            scopes: repo read:org
      acme-tk:
        url: https://mcp.acme.test/tk/mcp
        credentials:
          mode: per-user-token
          header: X-Api-Key
          prefix: ""
      acme-plain:
        url: https://mcp.acme.test/plain/mcp
`;
  const credEnv = { ...env, ACME_GH_OAUTH_CLIENT_SECRET: SECRET };

  it("imports the modes with the client secret sealed, and exports them back without it (a reference), in clear only with --with-secrets", async () => {
    await importTenants(db.sql, parseTenantsFile(file, credEnv), { ring });
    const [gh] = await db.sql`SELECT credentials FROM servers WHERE id = 'acme-gh'`;
    expect(JSON.stringify(gh)).not.toContain(SECRET);
    expect(String(gh!.credentials.oauth.clientSecret)).toMatch(/^mcpgw:v1:/);
    const [plain] = await db.sql`SELECT credentials FROM servers WHERE id = 'acme-plain'`;
    expect(plain!.credentials).toEqual({ mode: "shared" });

    const exported = await exportTenants(db.sql);
    const servers = exported.tenants.acme!.servers;
    expect(servers["acme-gh"]!.credentials).toEqual({
      mode: "per-user-oauth",
      header: "Authorization",
      prefix: "Bearer ",
      oauth: {
        issuer: "https://login.acme.test",
        tokenEndpoint: "https://login.acme.test/token",
        revocationEndpoint: "https://login.acme.test/revoke",
        clientId: "gateway-at-acme",
        clientSecret: "${ACME_GH_OAUTH_CLIENT_SECRET}",
        scopes: "repo read:org",
      },
    });
    expect(servers["acme-tk"]!.credentials).toEqual({ mode: "per-user-token", header: "X-Api-Key", prefix: "" });
    expect(servers["acme-plain"]!.credentials).toBeUndefined();
    const text = formatTenantsFile(exported);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain("mcpgw:v1:");
    const clear = await exportTenants(db.sql, { withSecrets: true, ring });
    expect(clear.tenants.acme!.servers["acme-gh"]!.credentials!.oauth!.clientSecret).toBe(SECRET);
  });

  it("round-trips: the export imported again changes nothing and keeps users' connections; a changed header or URL ends them", async () => {
    const before = await db.sql`SELECT id, credentials, updated_at FROM servers WHERE tenant_id = 'acme' ORDER BY id`;
    await db.sql`INSERT INTO users (email) VALUES ('dana@acme.test') ON CONFLICT DO NOTHING`;
    await saveConnection(db.sql, ring, "dana@acme.test", "acme-tk", { kind: "token", access: "dana-pat" });
    await saveConnection(db.sql, ring, "dana@acme.test", "acme-gh", {
      kind: "oauth",
      access: "dana-access",
      refresh: "dana-refresh",
    });
    const exported = formatTenantsFile(await exportTenants(db.sql));
    await importTenants(db.sql, parseTenantsFile(exported, credEnv), { ring });
    expect(await db.sql`SELECT id, credentials, updated_at FROM servers WHERE tenant_id = 'acme' ORDER BY id`).toEqual(
      before,
    );
    expect(formatTenantsFile(await exportTenants(db.sql))).toBe(exported);
    expect(
      (await db.sql`SELECT server_id FROM user_connections WHERE user_email = 'dana@acme.test' ORDER BY server_id`).map(
        (r) => r.server_id,
      ),
    ).toEqual(["acme-gh", "acme-tk"]);

    await importTenants(
      db.sql,
      parseTenantsFile(exported.replace("header: X-Api-Key", "header: X-Other-Key"), credEnv),
      { ring },
    );
    expect(
      (await db.sql`SELECT server_id FROM user_connections WHERE user_email = 'dana@acme.test'`).map(
        (r) => r.server_id,
      ),
    ).toEqual(["acme-gh"]);
    expect((await exportTenants(db.sql)).tenants.acme!.servers["acme-tk"]!.credentials).toMatchObject({
      header: "X-Other-Key",
    });

    // a new URL for the OAuth server ends its connections too (the tokens are not sent to another
    // address); their revocation at login.acme.test, which does not resolve here, fails without
    // failing the import
    const url = (await exportTenants(db.sql)).tenants.acme!.servers["acme-gh"]!.url;
    await importTenants(
      db.sql,
      parseTenantsFile(exported.replace("header: X-Api-Key", "header: X-Other-Key").replace(url, `${url}/v2`), credEnv),
      { ring },
    );
    expect(await db.sql`SELECT server_id FROM user_connections WHERE user_email = 'dana@acme.test'`).toEqual([]);
    expect(
      (
        await db.sql`SELECT server_id, detail->>'reason' AS reason FROM audit_log WHERE action = 'connection.disconnect' AND actor = 'dana@acme.test' ORDER BY id`
      ).map((r) => [r.server_id, r.reason]),
    ).toEqual([
      ["acme-tk", "server address or credentials changed"],
      ["acme-gh", "server address or credentials changed"],
    ]);
  });

  it("refuses settings that cannot work, naming the field; the client secret needs its variable and the key", async () => {
    const bad = (text: string, pattern: RegExp, env: Record<string, string> = credEnv) =>
      expect(() => parseTenantsFile(text, env)).toThrow(pattern);
    bad(
      "tenants: {t: {name: T, servers: {s: {url: 'http://x', credentials: {mode: per-user-oauth}}}}}",
      /tenants\.t\.servers\.s\.credentials\.oauth/,
    );
    bad("tenants: {t: {name: T, servers: {s: {url: 'http://x', credentials: {mode: everyone}}}}}", /credentials\.mode/);
    bad(
      "tenants: {t: {name: T, servers: {s: {url: 'http://x', credentials: {mode: per-user-token, header: Mcp-Session-Id}}}}}",
      /credentials\.header/,
    );
    bad(file, /ACME_GH_OAUTH_CLIENT_SECRET/, {});
    const fresh = file.replace(/acme/gi, (m) => (m === "ACME" ? "BETA" : "beta"));
    await expect(importTenants(db.sql, parseTenantsFile(fresh, { BETA_GH_OAUTH_CLIENT_SECRET: "s" }))).rejects.toThrow(
      /SECRETS_KEY is not set/,
    );
    expect(await db.sql`SELECT id FROM servers WHERE tenant_id = 'beta'`).toHaveLength(0);
  });
});
