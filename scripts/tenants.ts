/**
 * `npm run tenants -- import <file> [--prune]` and `npm run tenants -- export [--json] [--with-secrets]`
 * against DATABASE_URL (or the embedded Postgres of `npm start`, which must not be running).
 * Secret header values are sealed with SECRETS_KEY (and opened with it or SECRETS_KEY_PREVIOUS):
 * from the environment, else the key `npm start` generated (DATA_DIR/secrets.json).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createSql } from "../shared/db";
import { keyRing, SecretsKey, SecretsKeyList, type KeyRing } from "../shared/secrets";
import { openDatabase, StartupError } from "./lib/database";
import { migrate } from "./lib/migrate";
import { storedSecrets } from "./lib/secrets";
import { exportTenants, formatTenantsFile, importTenants, parseTenantsFile, TenantsFileError } from "./lib/tenants-file";
import { ROOT } from "./lib/workers";

const [command, ...rest] = process.argv.slice(2);
const flags = new Set(rest.filter((a) => a.startsWith("--")));
const file = rest.find((a) => !a.startsWith("--"));

function usage(): never {
  console.error("usage: npm run tenants -- import <file.yaml|file.json> [--prune]\n       npm run tenants -- export [--json] [--with-secrets]");
  process.exit(2);
}

if (command !== "import" && command !== "export") usage();
if (command === "import" && !file) usage();

/** The key ring from SECRETS_KEY (or npm start's generated key) and SECRETS_KEY_PREVIOUS; undefined when there is no key. */
async function secretsRing(): Promise<KeyRing | undefined> {
  const current = process.env.SECRETS_KEY || storedSecrets(resolve(process.env.DATA_DIR || resolve(ROOT, ".data"), "secrets.json")).SECRETS_KEY;
  if (!current) return undefined;
  const key = SecretsKey.safeParse(current);
  if (!key.success) throw new TenantsFileError(`SECRETS_KEY ${key.error.issues[0]?.message}`);
  const previous = SecretsKeyList.safeParse(process.env.SECRETS_KEY_PREVIOUS);
  if (!previous.success) throw new TenantsFileError(`SECRETS_KEY_PREVIOUS: ${previous.error.issues[0]?.message}`);
  return keyRing({ SECRETS_KEY: key.data, SECRETS_KEY_PREVIOUS: previous.data });
}

let db;
try {
  const ring = await secretsRing();
  const parsed = command === "import" ? parseTenantsFile(readFileSync(file!, "utf8")) : null;
  db = await openDatabase();
  const sql = createSql(db.url, { max: 2 });
  try {
    await migrate(sql);
    if (parsed) {
      const counts = await importTenants(sql, parsed, { prune: flags.has("--prune"), actor: `cli:${process.env.USER ?? "import"}`, ring });
      console.error(`imported ${file}: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ")}`);
    } else {
      process.stdout.write(formatTenantsFile(await exportTenants(sql, { withSecrets: flags.has("--with-secrets"), ring }), flags.has("--json") ? "json" : "yaml"));
    }
  } finally {
    await sql.end({ timeout: 2 });
  }
} catch (err) {
  if (err instanceof TenantsFileError || err instanceof StartupError || (err as NodeJS.ErrnoException).code === "ENOENT") {
    console.error(`error: ${(err as Error).message}`);
    process.exitCode = 1;
  } else throw err;
} finally {
  await db?.stop();
}
