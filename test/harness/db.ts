/** A fresh, migrated database per test file on the test Postgres server. */
import { inject } from "vitest";
import { createSql, type Sql } from "../../shared/db";
import { createScratchDatabase } from "../../scripts/lib/database";
import { migrate } from "../../scripts/lib/migrate";

export interface TestDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

export async function createTestDatabase(opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const scratch = await createScratchDatabase(inject("databaseUrl"), "gwtest");
  const sql = createSql(scratch.url, { max: 4 });
  if (opts.migrate ?? true) await migrate(sql);
  return {
    url: scratch.url,
    sql,
    async drop() {
      await sql.end({ timeout: 2 });
      await scratch.drop();
    },
  };
}
