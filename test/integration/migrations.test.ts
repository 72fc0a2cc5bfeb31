import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../harness/db";
import { migrate, migrationFiles, RENAMED } from "../../scripts/lib/migrate";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
});
afterAll(() => db.drop());

async function schemaSnapshot() {
  return db.sql`
    SELECT table_name, column_name, data_type, is_nullable, column_default
    FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name`;
}

describe("migrations", () => {
  it("apply in order, then a second run does nothing and changes nothing", async () => {
    const first = await migrate(db.sql);
    expect(first).toEqual(migrationFiles());
    const before = await schemaSnapshot();
    const version = (await db.sql`SELECT version FROM catalog_state`)[0]!.version;
    expect(await migrate(db.sql)).toEqual([]);
    expect(await schemaSnapshot()).toEqual(before);
    expect((await db.sql`SELECT version FROM catalog_state`)[0]!.version).toEqual(version);
    const recorded = await db.sql`SELECT name FROM schema_migrations ORDER BY name`;
    expect(recorded.map((r) => r.name)).toEqual(migrationFiles());
  });

  it("a database that applied a file under its old name does not apply it again after the rename", async () => {
    const old = await createTestDatabase({ migrate: false });
    try {
      // as a release before the rename left it: everything applied, the file recorded as 0003_
      await migrate(old.sql);
      for (const [from, to] of Object.entries(RENAMED))
        await old.sql`UPDATE schema_migrations SET name = ${from} WHERE name = ${to}`;
      const before = await old.sql`SELECT count(*)::int AS n FROM schema_migrations`;
      expect(await migrate(old.sql)).toEqual([]);
      const recorded = await old.sql`SELECT name FROM schema_migrations ORDER BY name`;
      expect(recorded.map((r) => r.name)).toEqual(migrationFiles());
      expect((await old.sql`SELECT count(*)::int AS n FROM schema_migrations`)[0]!.n).toBe(before[0]!.n);
    } finally {
      await old.drop();
    }
  });

  it("number every file once", () => {
    const numbers = migrationFiles().map((f) => f.slice(0, 4));
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it("hold the old stack's tables", async () => {
    await db.sql`INSERT INTO tenants (id, name) VALUES ('google', 'Google')`;
    await db.sql`INSERT INTO groups (name) VALUES ('google-users')`;
    await db.sql`INSERT INTO users (email, is_admin) VALUES ('joelalama@google.com', false), ('boss@example.com', true)`;
    await db.sql`INSERT INTO user_group_membership (user_email, group_name) VALUES ('joelalama@google.com', 'google-users')`;
    await db.sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('google-users', 'google')`;
    const admins = await db.sql`SELECT user_email FROM user_admin_status WHERE is_admin`;
    expect(admins.map((r) => r.user_email)).toEqual(["boss@example.com"]);
  });

  it("store emails and group names lower-case only, so comparisons are case-insensitive", async () => {
    await expect(db.sql`INSERT INTO users (email) VALUES ('Mixed@Example.com')`).rejects.toThrow(/check constraint/);
    await expect(db.sql`INSERT INTO groups (name) VALUES ('MCP-Admin')`).rejects.toThrow(/check constraint/);
  });

  it("bump the catalog version on every grant change", async () => {
    const v = async () => Number((await db.sql`SELECT version FROM catalog_state`)[0]!.version);
    const v0 = await v();
    await db.sql`DELETE FROM group_tenant_mapping WHERE group_name = 'google-users'`;
    expect(await v()).toBeGreaterThan(v0);
  });

  it("roll a failing migration back whole and name it", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "mig-"));
    writeFileSync(join(dir, "0001_ok.sql"), "CREATE TABLE mig_ok (id int);");
    writeFileSync(join(dir, "0002_bad.sql"), "CREATE TABLE mig_half (id int); SELECT * FROM no_such_table;");
    const other = await createTestDatabase({ migrate: false });
    try {
      await expect(migrate(other.sql, dir)).rejects.toThrow(/0002_bad\.sql/);
      const tables =
        await other.sql`SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'mig_%' ORDER BY 1`;
      expect(tables.map((t) => t.table_name)).toEqual(["mig_ok"]);
    } finally {
      await other.drop();
    }
  });
});
