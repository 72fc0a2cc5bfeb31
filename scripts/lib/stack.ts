/**
 * The whole system on this machine, as `npm start` and the integration tests run it:
 * Postgres (given or embedded) -> migrations -> demo upstreams and data -> bootstrap admin ->
 * worker bundles -> one workerd process running the edge and the four workers.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { createSql } from "../../shared/db";
import { SecretsError, type KeyRing } from "../../shared/secrets";
import { buildAll } from "./build";
import { cleanups as newCleanups } from "./cleanups";
import { openDatabase, StartupError, type Database } from "./database";
import { migrate, MigrationError } from "./migrate";
import { assertPortFree, freePort } from "./ports";
import type { Managed } from "./processes";
import { startLocalIdp, DEMO_USERS, type DemoUser, type LocalIdp } from "./oidc";
import { localSecrets, sealStoredSecrets, secretsKeyRing } from "./secrets";
import { bootstrapAdmin, seedDemo } from "./seed";
import { startDemoUpstreams, type Upstream } from "./upstreams";
import { startWorkerd } from "./workerd";
import { localConfig, WORKERD_DIR, writeWorkerdConfigs } from "./workerd-config";
import { allWorkers, envSchema, ROOT } from "./workers";
import { FORWARD_AUTH_SOCKET } from "../../shared/edge";
import { AdminApiKey, Email } from "../../shared/schemas";

export interface StackOptions {
  /** Public port; 0 picks a free one. Default 8000. */
  port?: number;
  /** Host to bind. Default 127.0.0.1. */
  host?: string;
  /** Postgres to use; unset starts the embedded one under `dataDir`. */
  databaseUrl?: string;
  /** Where local state lives. Default `.data`. */
  dataDir?: string;
  /** Demo tenants, users and upstream servers. Default true. */
  demo?: boolean;
  /** Re-import the demo data (its tenants, servers, groups and users as first created). Default false: seeded once. */
  resetDemo?: boolean;
  /** Port of the local OIDC provider on 127.0.0.1; 0 or unset picks a free one. `npm start`: IDP_PORT, default PORT + 1. */
  idpPort?: number;
  /**
   * `npm start`: Ctrl-C (SIGINT, SIGTERM, SIGHUP) while starting stops what already started, then
   * exits 130. Default false (the caller handles signals).
   */
  exitOnSignal?: boolean;
  /** Default admin@localhost. */
  adminEmail?: string;
  adminApiKey?: string;
  /** Bundle the workers first. Default true; tests build once and pass false. */
  build?: boolean;
  /** Extra variables for the workers. */
  env?: Record<string, string>;
  /** Progress messages. */
  log?: (line: string) => void;
  /** Echo workerd's output. */
  echo?: boolean;
  /**
   * Run the local OIDC provider (scripts/lib/oidc.ts) and point the auth worker at it. Default true
   * unless OIDC_ISSUER is set (in `env` or the process environment): then that provider is used.
   */
  localIdp?: boolean;
  /** Users of the local OIDC provider in addition to the demo users. */
  idpUsers?: DemoUser[];
  /**
   * Tests only: also serve the catalog worker's internal routes on this loopback port (0 picks a
   * free one), through an extra workerd socket. Never used by `npm start`.
   */
  internalPort?: number;
  /**
   * Tests only: also serve the auth worker's ForwardAuth entrypoint (what Traefik's forwardAuth
   * calls) on this loopback port (0 picks a free one). Never used by `npm start`.
   */
  forwardAuthPort?: number;
  /**
   * Tests only: also serve each named worker on a socket of its own (a free loopback port each),
   * as a container serves it on WORKER_PORTS: what Prometheus scrapes (`/metrics` with
   * METRICS_TOKEN). Never used by `npm start`.
   */
  workerSockets?: ("auth" | "catalog" | "mcp" | "admin")[];
}

export interface Stack {
  url: string;
  port: number;
  databaseUrl: string;
  embeddedDatabase: boolean;
  /** A freshly generated admin key (printed once), or null when one existed or was given. */
  generatedAdminKey: string | null;
  adminEmail: string;
  upstreams: Upstream[];
  workerd: Managed;
  /** Variables the workers were started with (secrets included; for tests). */
  workerEnv: Record<string, string>;
  /** The local OIDC provider, when it runs. */
  idp: LocalIdp | null;
  /** Base URL of the catalog's internal socket when `internalPort` was given. */
  internalUrl?: string;
  /** Base URL of the auth worker's ForwardAuth socket when `forwardAuthPort` was given. */
  forwardAuthUrl?: string;
  /** Base URL of each worker's own socket given in `workerSockets`. */
  workerUrls: Partial<Record<"auth" | "catalog" | "mcp" | "admin", string>>;
  /** Restarts the workerd process (same port and settings). */
  restartWorkerd(): Promise<void>;
  stop(): Promise<void>;
}

export { StartupError, MigrationError };

/**
 * Checks every worker's variables with the worker's own Env schema (the values workerd will
 * see: the environment, then what the stack sets), so a bad or useless setting stops the start
 * with one line naming the variable and the fix instead of a 500 on the first request.
 * @throws StartupError
 */
export function checkWorkerSettings(env: Record<string, string | undefined>): void {
  for (const w of allWorkers()) {
    const vars = Object.fromEntries(
      w.vars.map((v) => [v, env[v]] as const).filter(([, value]) => value !== undefined && value !== ""),
    );
    const parsed = envSchema(w.name).safeParse(vars);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new StartupError(`${issue.path.join(".") || w.name}: ${issue.message} (read by the ${w.name} worker)`);
    }
  }
}

/** Checks the settings `npm start` itself reads before anything starts. @throws StartupError */
function checkStartSettings(opts: StackOptions): void {
  if (opts.adminApiKey !== undefined) {
    const key = AdminApiKey.safeParse(opts.adminApiKey);
    if (!key.success)
      throw new StartupError(`ADMIN_API_KEY ${key.error.issues[0]!.message}; unset it to have a key generated`);
  }
  if (opts.adminEmail !== undefined) {
    const email = Email.safeParse(opts.adminEmail);
    if (!email.success)
      throw new StartupError(
        `ADMIN_EMAIL ${email.error.issues[0]!.message} (got ${JSON.stringify(opts.adminEmail)}): set ADMIN_EMAIL=you@example.com or unset it for admin@localhost`,
      );
  }
}

function pick(env: Record<string, string> | undefined, ...names: string[]): Record<string, string> {
  return Object.fromEntries(names.filter((n) => env?.[n]).map((n) => [n, env![n]!]));
}

/**
 * Asks `/healthz` once: the catalog then lists every server not listed yet in the background
 * (so Health, the access explorer and clients see tools before anyone used a server). Never
 * fails the start: a slow or failing answer only delays the listing to the first use.
 */
async function wakeCatalog(url: string): Promise<void> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
  } catch {
    // the listing then happens on first use
  }
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const log = opts.log ?? (() => {});
  checkStartSettings(opts);
  const host = opts.host ?? "127.0.0.1";
  const dataDir = opts.dataDir ?? resolve(ROOT, ".data");
  const port = opts.port === 0 ? await freePort() : (opts.port ?? 8000);
  try {
    await assertPortFree(port, host);
  } catch {
    throw new StartupError(`port ${port} is already in use; stop what runs there or start with PORT=<another port>`);
  }
  const cleanups = newCleanups();
  const stopAll = cleanups.stop;
  const onSignal = () => void stopAll().finally(() => process.exit(130));
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  if (opts.exitOnSignal) for (const s of signals) process.once(s, onSignal);
  const unhook = () => {
    for (const s of signals) process.removeListener(s, onSignal);
  };
  try {
    let db: Database;
    if (opts.databaseUrl) {
      const { checkDatabase } = await import("./database");
      await checkDatabase(opts.databaseUrl);
      db = { url: opts.databaseUrl, embedded: false, stop: async () => {} };
    } else {
      const { startEmbedded } = await import("./database");
      log("starting the embedded Postgres (data in " + resolve(dataDir, "pg") + ")");
      db = await startEmbedded(resolve(dataDir, "pg"));
    }
    cleanups.add(() => db.stop());
    const sql = createSql(db.url, { max: 2 });
    cleanups.add(() => sql.end({ timeout: 2 }));
    const applied = await migrate(sql);
    log(applied.length ? `applied migrations: ${applied.join(", ")}` : "database schema up to date");
    const secrets = {
      ...localSecrets(resolve(dataDir, "secrets.json")),
      ...pick(opts.env, "SERVICE_SECRET", "SECRETS_KEY", "IDENTITY_SECRET", "SESSION_SECRET", "COOKIE_SECRET"),
    };
    const previousKeys = opts.env?.SECRETS_KEY_PREVIOUS ?? process.env.SECRETS_KEY_PREVIOUS ?? "";
    let ring: KeyRing;
    try {
      for (const line of await sealStoredSecrets(sql, secrets.SECRETS_KEY, previousKeys)) log(line);
      ring = await secretsKeyRing(secrets.SECRETS_KEY, previousKeys);
    } catch (err) {
      if (err instanceof SecretsError) throw new StartupError(err.message);
      throw err;
    }

    let upstreams: Upstream[] = [];
    if (opts.demo ?? true) {
      upstreams = await startDemoUpstreams(dataDir);
      for (const u of upstreams) cleanups.add(() => u.proc.stop());
      const seeded = await seedDemo(sql, upstreams, ring, { reset: opts.resetDemo });
      log(
        {
          seeded:
            "demo data seeded into the empty database (later starts keep every change; npm start -- --reset-demo restores it)",
          reset: "demo data reset: the demo tenants, servers, groups and users as first created",
          kept: "demo data kept as it is (npm start -- --reset-demo restores it)",
          skipped: "demo data not added: the database already holds other data (npm start -- --reset-demo adds it)",
        }[seeded],
      );
      log(`demo upstreams: ${upstreams.map((u) => `${u.id} ${u.url}`).join(", ")}`);
    }
    const adminEmail = (opts.adminEmail ?? "admin@localhost").toLowerCase();
    const generatedAdminKey = await bootstrapAdmin(sql, adminEmail, opts.adminApiKey);

    const url = `http://${host === "0.0.0.0" || host === "127.0.0.1" ? "localhost" : host}:${port}`;
    let idp: LocalIdp | null = null;
    if ((opts.localIdp ?? true) && !(opts.env?.OIDC_ISSUER ?? process.env.OIDC_ISSUER)) {
      const idpPort = opts.idpPort ?? 0;
      if (idpPort) {
        try {
          await assertPortFree(idpPort, "127.0.0.1");
        } catch {
          throw new StartupError(
            `port ${idpPort} (the local identity provider, IDP_PORT) is already in use; stop what runs there or start with IDP_PORT=<another port>`,
          );
        }
      }
      idp = await startLocalIdp({
        port: idpPort,
        publicUrl: opts.env?.PUBLIC_URL ?? url,
        users: [...DEMO_USERS, ...(opts.idpUsers ?? [])],
      });
      const started = idp;
      cleanups.add(() => started.stop());
      log(
        `identity provider: ${idp.issuer} (local; demo users ${DEMO_USERS.map((u) => `${u.email}/${u.password}`).join(", ")})`,
      );
    }
    const workerEnv: Record<string, string> = {
      DATABASE_URL: db.url,
      PUBLIC_URL: url,
      ...(idp?.env ?? {}),
      ...secrets,
      ...(previousKeys ? { SECRETS_KEY_PREVIOUS: previousKeys } : {}),
      ...opts.env,
    };
    // what workerd will see (processes.ts adds the environment under the stack's values)
    checkWorkerSettings({ ...process.env, ...workerEnv });
    if ((opts.build ?? true) || !existsSync(resolve(WORKERD_DIR, "local.capnp"))) {
      log("bundling the workers");
      await buildAll();
      writeWorkerdConfigs();
    }
    let workerdOpts: Parameters<typeof startWorkerd>[0] = { port, host, env: workerEnv, echo: opts.echo };
    let internalUrl: string | undefined;
    let forwardAuthUrl: string | undefined;
    const extraSockets: Record<string, number> = {};
    if (opts.internalPort !== undefined) {
      extraSockets.catalog = opts.internalPort === 0 ? await freePort() : opts.internalPort;
      internalUrl = `http://127.0.0.1:${extraSockets.catalog}`;
    }
    if (opts.forwardAuthPort !== undefined) {
      extraSockets[FORWARD_AUTH_SOCKET] = opts.forwardAuthPort === 0 ? await freePort() : opts.forwardAuthPort;
      forwardAuthUrl = `http://127.0.0.1:${extraSockets[FORWARD_AUTH_SOCKET]}`;
    }
    const workerUrls: Stack["workerUrls"] = {};
    for (const w of opts.workerSockets ?? []) {
      if (extraSockets[w] !== undefined) continue; // the catalog's internal socket serves the catalog already
      extraSockets[w] = await freePort();
    }
    for (const w of opts.workerSockets ?? []) workerUrls[w] = `http://127.0.0.1:${extraSockets[w]}`;
    if (Object.keys(extraSockets).length) {
      const config = resolve(
        WORKERD_DIR,
        `local-internal-${process.pid}-${Object.values(extraSockets).join("-")}.capnp`,
      );
      writeFileSync(config, localConfig(allWorkers(), Object.keys(extraSockets) as Parameters<typeof localConfig>[1]));
      cleanups.add(async () => rmSync(config, { force: true }));
      workerdOpts = { ...workerdOpts, config, extraSockets };
    }
    // again now that the identity provider and the upstreams listen: a port taken in the meantime
    // would have workerd fail to bind while the wait for the port met the other listener
    try {
      await assertPortFree(port, host);
    } catch {
      throw new StartupError(`port ${port} was taken while the stack started; start again (or with another PORT)`);
    }
    let workerd = await startWorkerd(workerdOpts);
    cleanups.add(() => workerd.stop());
    await wakeCatalog(url);
    const stack: Stack = {
      url,
      port,
      databaseUrl: db.url,
      embeddedDatabase: db.embedded,
      generatedAdminKey,
      adminEmail,
      upstreams,
      get workerd() {
        return workerd;
      },
      workerEnv,
      idp,
      internalUrl,
      forwardAuthUrl,
      workerUrls,
      async restartWorkerd() {
        await workerd.stop();
        workerd = await startWorkerd(workerdOpts);
        await wakeCatalog(url);
      },
      stop: stopAll,
    };
    // the last cleanup registered for workerd refers to the first process; keep it current
    cleanups.add(() => workerd.stop());
    unhook();
    return stack;
  } catch (err) {
    unhook();
    await stopAll();
    throw err;
  }
}
