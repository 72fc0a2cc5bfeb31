/**
 * Runs once before the integration tests: finds Postgres (DATABASE_URL, else an embedded one in a
 * temporary folder) and bundles the workers, so each test file only creates its own database
 * and starts workerd.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    embeddedDatabase: boolean;
  }
}

// Each test run bundles into its own folder, so parallel runs never rebuild under each other.
// Set before the build modules load (they read it at import time).
process.env.MCPGW_DIST ??= mkdtempSync(join(tmpdir(), "mcpgw-dist-"));

export default async function setup(project: TestProject) {
  const { checkDatabase, startEmbedded } = await import("../../scripts/lib/database");
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
  const { buildAll } = await import("../../scripts/lib/build");
  const { writeWorkerdConfigs } = await import("../../scripts/lib/workerd-config");
  await buildAll();
  writeWorkerdConfigs();
  const dist = process.env.MCPGW_DIST!;
  return async () => {
    await stop();
    rmSync(dist, { recursive: true, force: true });
  };
}
