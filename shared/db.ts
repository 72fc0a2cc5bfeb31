/**
 * Postgres access shared by every worker and by the Node tooling.
 *
 * workerd forbids I/O objects created in one request from being used in another, so a client
 * kept at module scope breaks. {@link withSql} opens a small client for one request and closes it
 * after the response with `ctx.waitUntil`. Hot paths avoid it through caches (see catalog worker).
 * All SQL goes through postgres.js tagged templates: parameterised, never concatenated.
 */
import postgres from "postgres";

export type Sql = postgres.Sql<Record<string, never>>;
export type TxSql = postgres.TransactionSql<Record<string, never>>;

export interface SqlOptions {
  /** Pool size. Default 1 inside a worker request. */
  max?: number;
  /** Seconds to wait for a connection. Default 5. */
  connectTimeout?: number;
  /** Use named prepared statements. Default true; set false behind a transaction-mode pooler. */
  prepare?: boolean;
  /** `application_name` of the connections (what `pg_stat_activity` shows operators). */
  applicationName?: string;
  /** Postgres cancels a statement running longer than this (ms). Default: the server's setting. */
  statementTimeoutMs?: number;
}

/** Creates a postgres.js client with settings that work in workerd and in Node. */
export function createSql(url: string, opts: SqlOptions = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 1,
    connect_timeout: opts.connectTimeout ?? 5,
    idle_timeout: 20,
    prepare: opts.prepare ?? true,
    fetch_types: false,
    connection: {
      ...(opts.applicationName ? { application_name: opts.applicationName } : {}),
      ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
    },
    onnotice: () => {},
    transform: { undefined: null },
  }) as unknown as Sql;
}

interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

/**
 * Runs `fn` with a client that lives for this request only, closed through `ctx.waitUntil`.
 * @param url connection string (env.DATABASE_URL)
 */
export async function withSql<T>(url: string, ctx: WaitUntil, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = createSql(url);
  try {
    return await fn(sql);
  } finally {
    ctx.waitUntil(sql.end({ timeout: 5 }).catch(() => {}));
  }
}

/** True when the error comes from Postgres being unreachable rather than from a query. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; errno?: string; message?: string } | null;
  if (!e) return false;
  const code = String(e.code ?? e.errno ?? "");
  return (
    [
      "ECONNREFUSED",
      "ECONNRESET",
      "ETIMEDOUT",
      "CONNECT_TIMEOUT",
      "CONNECTION_CLOSED",
      "CONNECTION_ENDED",
      "CONNECTION_DESTROYED",
      "57P01",
      "57P03",
    ].includes(code) || /connect|network|socket/i.test(e.message ?? "")
  );
}

/**
 * Like {@link withSql} but opens the connection only when `fn` first asks for it, so a request
 * answered from cache costs no connection at all.
 */
export async function withLazySql<T>(url: string, ctx: WaitUntil, fn: (sql: () => Sql) => Promise<T>): Promise<T> {
  let sql: Sql | undefined;
  try {
    return await fn(() => (sql ??= createSql(url)));
  } finally {
    if (sql) ctx.waitUntil(sql.end({ timeout: 5 }).catch(() => {}));
  }
}
