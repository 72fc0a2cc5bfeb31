/**
 * `npm run tenants -- import <file> [--prune]` and `npm run tenants -- export [--json] [--with-secrets]`
 * against DATABASE_URL (or the embedded Postgres of `npm start`, which must not be running).
 */
import { readFileSync } from "node:fs";
import { createSql } from "../shared/db";
import { openDatabase, StartupError } from "./lib/database";
import { migrate } from "./lib/migrate";
import { exportTenants, formatTenantsFile, importTenants, parseTenantsFile, TenantsFileError } from "./lib/tenants-file";

const [command, ...rest] = process.argv.slice(2);
const flags = new Set(rest.filter((a) => a.startsWith("--")));
const file = rest.find((a) => !a.startsWith("--"));

function usage(): never {
  console.error("usage: npm run tenants -- import <file.yaml|file.json> [--prune]\n       npm run tenants -- export [--json] [--with-secrets]");
  process.exit(2);
}

if (command !== "import" && command !== "export") usage();
if (command === "import" && !file) usage();

let db;
try {
  const parsed = command === "import" ? parseTenantsFile(readFileSync(file!, "utf8")) : null;
  db = await openDatabase();
  const sql = createSql(db.url, { max: 2 });
  try {
    await migrate(sql);
    if (parsed) {
      const counts = await importTenants(sql, parsed, { prune: flags.has("--prune"), actor: `cli:${process.env.USER ?? "import"}` });
      console.error(`imported ${file}: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ")}`);
    } else {
      process.stdout.write(formatTenantsFile(await exportTenants(sql, { withSecrets: flags.has("--with-secrets") }), flags.has("--json") ? "json" : "yaml"));
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
