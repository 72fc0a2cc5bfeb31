/**
 * Runs once before the integration tests: finds Postgres (DATABASE_URL, else an embedded one in a
 * temporary folder) and bundles the workers, so each test file only creates its own database
 * and starts workerd.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { buildAll } from "../../scripts/lib/build";
import { checkDatabase, startEmbedded } from "../../scripts/lib/database";
import { writeWorkerdConfigs } from "../../scripts/lib/workerd-config";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    embeddedDatabase: boolean;
  }
}

export default async function setup(project: TestProject) {
  let stop = async () => {};
  let url = process.env.DATABASE_URL;
  if (url) {
    await checkDatabase(url);
  } else {
    const dir = mkdtempSync(join(tmpdir(), "mcpgw-test-pg-"));
    chmodSync(dir, 0o755); // the embedded server runs as the postgres user when we are root
    const db = await startEmbedded(join(dir, "pg"), "postgres");
    url = db.url;
    stop = async () => {
      await db.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  project.provide("databaseUrl", url);
  project.provide("embeddedDatabase", !process.env.DATABASE_URL);
  await buildAll();
  writeWorkerdConfigs();
  return stop;
}
