/**
 * Applies migrations/NNNN_name.sql in order, each in its own transaction, recording each in
 * schema_migrations so a second run does nothing. An advisory lock keeps two starters (two
 * replicas, or the compose migration service and a developer) from applying the same file twice.
 */
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Sql } from "../../shared/db";
import { ROOT } from "./workers";

export const MIGRATIONS_DIR = resolve(ROOT, "migrations");
const LOCK_ID = 727_274_001;

export class MigrationError extends Error {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(`migration ${file} failed: ${(cause as Error)?.message ?? cause}`);
  }
}

/**
 * Files renamed after they shipped (old name -> new name): a database that applied the old name
 * has its record renamed before anything runs, so the file is not applied twice. (0004 was
 * released as a second 0003.)
 */
export const RENAMED: Readonly<Record<string, string>> = {
  "0003_auth_sessions_idp_groups.sql": "0004_auth_sessions_idp_groups.sql",
};

export function migrationFiles(dir = MIGRATIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
}

/** Applies pending migrations; returns the names applied in this run. */
export async function migrate(sql: Sql, dir = MIGRATIONS_DIR): Promise<string[]> {
  await sql`CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${LOCK_ID})`;
    for (const [from, to] of Object.entries(RENAMED)) {
      await tx`UPDATE schema_migrations SET name = ${to} WHERE name = ${from} AND NOT EXISTS (SELECT 1 FROM schema_migrations WHERE name = ${to})`;
    }
  });
  const applied: string[] = [];
  for (const file of migrationFiles(dir)) {
    const text = readFileSync(resolve(dir, file), "utf8");
    try {
      await sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${LOCK_ID})`;
        const [done] = await tx`SELECT 1 FROM schema_migrations WHERE name = ${file}`;
        if (done) return;
        await tx.unsafe(text);
        await tx`INSERT INTO schema_migrations (name) VALUES (${file})`;
        applied.push(file);
      });
    } catch (err) {
      throw new MigrationError(file, err);
    }
  }
  return applied;
}
