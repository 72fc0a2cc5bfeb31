/**
 * The compose `migrate` service (one shot, the workers start after it exits 0): applies
 * migrations/*.sql to DATABASE_URL, seals every stored secret under SECRETS_KEY (re-sealing
 * those under a SECRETS_KEY_PREVIOUS key: the rotation step, docs/deploy.md), then, when
 * ADMIN_EMAIL is set, makes that user an admin.
 * ADMIN_API_KEY, when set, is accepted as that admin's key; when unset and the admin has no live
 * key, one is generated and printed once (`docker compose logs migrate`).
 * compose/Dockerfile bundles this file with esbuild into the `migrate` image.
 */
import { createSql } from "../shared/db";
import { migrate, MigrationError } from "../scripts/lib/migrate";
import { sealStoredSecrets } from "../scripts/lib/secrets";
import { bootstrapAdmin } from "../scripts/lib/seed";
import { SecretsError } from "../shared/secrets";

const url = process.env.DATABASE_URL;
if (!url || !/^postgres(ql)?:\/\//.test(url)) {
  console.error("error: DATABASE_URL must be set to a postgres:// URL");
  process.exit(1);
}
const sql = createSql(url, { max: 1, connectTimeout: 10 });
try {
  const applied = await migrate(sql);
  console.log(applied.length ? `applied migrations: ${applied.join(", ")}` : "database schema up to date");
  for (const line of await sealStoredSecrets(sql, process.env.SECRETS_KEY, process.env.SECRETS_KEY_PREVIOUS))
    console.log(line);
  const email = process.env.ADMIN_EMAIL?.trim();
  if (email) {
    const generated = await bootstrapAdmin(sql, email, process.env.ADMIN_API_KEY || undefined);
    console.log(`admin: ${email.toLowerCase()}`);
    if (generated) console.log(`admin API key (shown once, store it now): ${generated}`);
  }
} catch (err) {
  console.error(
    `error: ${err instanceof MigrationError || err instanceof SecretsError ? err.message : (err as Error).message}`,
  );
  process.exitCode = 1;
} finally {
  await sql.end({ timeout: 5 });
}
