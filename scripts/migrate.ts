/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded Postgres). */
import { createSql } from "../shared/db";
import { openDatabase, StartupError } from "./lib/database";
import { migrate, MigrationError } from "./lib/migrate";

let db;
try {
  db = await openDatabase();
  const sql = createSql(db.url);
  const applied = await migrate(sql);
  await sql.end();
  console.log(applied.length ? `applied: ${applied.join(", ")}` : "up to date");
} catch (err) {
  if (err instanceof StartupError || err instanceof MigrationError) {
    console.error(`error: ${err.message}`);
    process.exitCode = 1;
  } else throw err;
} finally {
  await db?.stop();
}
