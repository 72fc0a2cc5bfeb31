/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded Postgres), then
 * seals the stored secrets under SECRETS_KEY (re-sealing those under a SECRETS_KEY_PREVIOUS key:
 * the rotation step where no compose `migrate` service runs it, e.g. before a Cloudflare deploy).
 * SECRETS_KEY comes from the environment, else (embedded Postgres) from what `npm start` generated.
 * A failure exits 1 with one line saying what is wrong.
 */
import { resolve } from "node:path";
import { createSql } from "../shared/db";
import { runCommand } from "./lib/cli";
import { openDatabase, type Database } from "./lib/database";
import { migrate } from "./lib/migrate";
import { sealStoredSecrets, storedSecrets } from "./lib/secrets";
import { ROOT } from "./lib/workers";

let db: Database | undefined;
await runCommand(
  async () => {
    db = await openDatabase();
    const sql = createSql(db.url, { connectTimeout: 10 });
    try {
      const applied = await migrate(sql);
      console.log(applied.length ? `applied: ${applied.join(", ")}` : "up to date");
      const key =
        process.env.SECRETS_KEY ||
        (db.embedded
          ? storedSecrets(resolve(process.env.DATA_DIR || resolve(ROOT, ".data"), "secrets.json")).SECRETS_KEY
          : undefined);
      if (key)
        for (const line of await sealStoredSecrets(sql, key, process.env.SECRETS_KEY_PREVIOUS)) console.log(line);
      else console.log("SECRETS_KEY not set: stored secrets left as they are (set it to seal or re-seal them)");
    } finally {
      await sql.end({ timeout: 2 });
    }
  },
  async () => {
    await db?.stop();
  },
);
