/** A fresh, migrated database per test file on the test Postgres server. */
import { inject } from "vitest";
import { createSql, type Sql } from "../../shared/db";
import { migrate } from "../../scripts/lib/migrate";

export interface TestDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

export async function createTestDatabase(opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const server = new URL(inject("databaseUrl"));
  const name = `gwtest_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  server.pathname = "/postgres";
  const admin = createSql(server.toString());
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(server);
  url.pathname = `/${name}`;
  const sql = createSql(url.toString(), { max: 4 });
  if (opts.migrate ?? true) await migrate(sql);
  return {
    url: url.toString(),
    sql,
    async drop() {
      await sql.end({ timeout: 2 });
      const a = createSql(server.toString());
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await a.end();
    },
  };
}
