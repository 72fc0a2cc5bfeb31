/**
 * `npm run tenants -- import <file> [--prune]` and `npm run tenants -- export [--json] [--with-secrets] [--output <file>]`
 * against DATABASE_URL, else the embedded Postgres under DATA_DIR (the one `npm start` runs while it
 * runs: changes are in force there within 2 seconds, as through the admin API).
 * A failure exits 1 with one line saying what is wrong, and leaves no (empty) export file behind.
 * Secret header values are sealed with SECRETS_KEY (and opened with it or SECRETS_KEY_PREVIOUS):
 * from the environment, else the key `npm start` generated (DATA_DIR/secrets.json).
 */
import { fstatSync, readFileSync, readlinkSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { createSql } from "../shared/db";
import { keyRing, SecretsKey, SecretsKeyList, type KeyRing } from "../shared/secrets";
import { runCommand } from "./lib/cli";
import { openDatabase, type Database } from "./lib/database";
import { migrate } from "./lib/migrate";
import { storedSecrets } from "./lib/secrets";
import {
  exportTenants,
  formatTenantsFile,
  importTenants,
  parseTenantsFile,
  TenantsFileError,
} from "./lib/tenants-file";
import { ROOT } from "./lib/workers";

const [command, ...rest] = process.argv.slice(2);
const flags = new Set<string>();
const positional: string[] = [];
let output: string | undefined;
for (let i = 0; i < rest.length; i++) {
  const a = rest[i]!;
  if (a === "--output" || a === "-o") output = rest[++i];
  else if (a.startsWith("--output=")) output = a.slice("--output=".length);
  else if (a.startsWith("-")) flags.add(a);
  else positional.push(a);
}
const file = positional[0];
const known = command === "import" ? ["--prune"] : ["--json", "--with-secrets"];

function usage(): never {
  console.error(
    "usage: npm run tenants -- import <file.yaml|file.json> [--prune]\n       npm run tenants -- export [--json] [--with-secrets] [--output <file>]",
  );
  process.exit(2);
}

if (command !== "import" && command !== "export") usage();
if (command === "import" && (!file || positional.length > 1 || output !== undefined)) usage();
if (command === "export" && (positional.length > 0 || (rest.some((a) => a === "--output" || a === "-o") && !output)))
  usage();
for (const f of flags) if (!known.includes(f)) usage();

/** The key ring from SECRETS_KEY (or npm start's generated key) and SECRETS_KEY_PREVIOUS; undefined when there is no key. */
async function secretsRing(): Promise<KeyRing | undefined> {
  const current =
    process.env.SECRETS_KEY ||
    storedSecrets(resolve(process.env.DATA_DIR || resolve(ROOT, ".data"), "secrets.json")).SECRETS_KEY;
  if (!current) return undefined;
  const key = SecretsKey.safeParse(current);
  if (!key.success) throw new TenantsFileError(`SECRETS_KEY ${key.error.issues[0]?.message}`);
  const previous = SecretsKeyList.safeParse(process.env.SECRETS_KEY_PREVIOUS);
  if (!previous.success) throw new TenantsFileError(`SECRETS_KEY_PREVIOUS: ${previous.error.issues[0]?.message}`);
  return keyRing({ SECRETS_KEY: key.data, SECRETS_KEY_PREVIOUS: previous.data });
}

/**
 * `export > file`: the shell created the file before this ran; on failure it would stay behind
 * empty, looking like an export of nothing. Removes it when stdout is a regular file still empty.
 */
function removeEmptyRedirect(): void {
  const stat = fstatSync(1);
  if (!stat.isFile() || stat.size !== 0) return;
  const path = readlinkSync("/proc/self/fd/1");
  if (path.startsWith("/")) unlinkSync(path);
}

let db: Database | undefined;
await runCommand(
  async () => {
    const ring = await secretsRing();
    let text: string;
    try {
      text = command === "import" ? readFileSync(file!, "utf8") : "";
    } catch (err) {
      throw new TenantsFileError(
        `cannot read ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`,
      );
    }
    const parsed = command === "import" ? parseTenantsFile(text) : null;
    db = await openDatabase();
    const sql = createSql(db.url, { max: 2, connectTimeout: 10 });
    try {
      await migrate(sql);
      if (parsed) {
        const counts = await importTenants(sql, parsed, {
          prune: flags.has("--prune"),
          actor: `cli:${process.env.USER ?? "import"}`,
          ring,
        });
        console.error(
          `imported ${file}: ${Object.entries(counts)
            .map(([k, v]) => `${v} ${k}`)
            .join(", ")}`,
        );
      } else {
        const out = formatTenantsFile(
          await exportTenants(sql, { withSecrets: flags.has("--with-secrets"), ring }),
          flags.has("--json") ? "json" : "yaml",
        );
        if (output) {
          // written whole or not at all
          const tmp = `${output}.${process.pid}.tmp`;
          try {
            writeFileSync(tmp, out, { mode: flags.has("--with-secrets") ? 0o600 : 0o644 });
            renameSync(tmp, output);
          } catch (err) {
            rmSync(tmp, { force: true });
            throw new TenantsFileError(`cannot write ${output}: ${(err as Error).message}`);
          }
          console.error(`exported to ${output}`);
        } else process.stdout.write(out);
      }
    } finally {
      await sql.end({ timeout: 2 });
    }
  },
  async () => {
    await db?.stop();
  },
  () => {
    if (command === "export" && !output) removeEmptyRedirect();
  },
);
