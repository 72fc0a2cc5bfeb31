import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createTestDatabase, type TestDatabase } from "../harness/db";
import { exportTenants, formatTenantsFile, importTenants, parseTenantsFile, TenantsFileError } from "../../scripts/lib/tenants-file";
import { loadAccess } from "../../shared/repos/access.repo";

const examplePath = resolve(import.meta.dirname, "../../examples/tenants.example.yaml");
const example = readFileSync(examplePath, "utf8");
const env = { GITHUB_AUTHORIZATION: "Bearer ghp_example_secret" };

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

describe("tenants file", () => {
  it("imports the example and exports the same content", async () => {
    await importTenants(db.sql, parseTenantsFile(example, env));
    const out = formatTenantsFile(await exportTenants(db.sql));
    expect(parse(out)).toEqual(parse(example));
    expect(out).toEqual(example.split("\n").filter((l) => !l.startsWith("#")).join("\n"));
    expect(out).not.toContain("ghp_example_secret");
  });

  it("maps the old setup: Joe -> Google + GitHub, Mike -> Microsoft, admins -> all", async () => {
    const ids = async (email: string) => (await loadAccess(db.sql, email)).servers.map((s) => s.server.tenant_id).sort();
    expect(await ids("joelalama@google.com")).toEqual(["github", "google"]);
    expect(await ids("JoeLalama@Google.com")).toEqual(["github", "google"]);
    expect(await ids("miketest@microsoft.com")).toEqual(["microsoft"]);
    expect(await ids("admin@example.com")).toEqual(["github", "google", "microsoft"]);
    expect(await ids("nobody@example.com")).toEqual([]);
  });

  it("is idempotent and keeps secrets as stored", async () => {
    const before = await exportTenants(db.sql, { withSecrets: true });
    await importTenants(db.sql, parseTenantsFile(example, env));
    expect(await exportTenants(db.sql, { withSecrets: true })).toEqual(before);
    expect(before.tenants.github!.servers.github!.headers).toEqual({ Authorization: "Bearer ghp_example_secret" });
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

  it("prunes what the file does not name only when asked", async () => {
    await db.sql`INSERT INTO tenants (id, name) VALUES ('extra', 'Extra')`;
    await importTenants(db.sql, parseTenantsFile(example, env));
    expect((await db.sql`SELECT id FROM tenants WHERE id = 'extra'`).length).toBe(1);
    await importTenants(db.sql, parseTenantsFile(example, env), { prune: true });
    expect((await db.sql`SELECT id FROM tenants WHERE id = 'extra'`).length).toBe(0);
  });
});
