/**
 * Postgres through a pooled connection that outlives requests.
 *
 * workerd ties every socket to the request that opened it, so a worker cannot keep a connection
 * between requests: each request that needs Postgres would pay a new connection (~4-5 ms on
 * loopback, TLS more) and hold one while in flight, exhausting `max_connections` under load. A
 * Durable Object is different: all requests to one object share its I/O context, so a postgres.js
 * client created inside it keeps its connections (and prepared statements) alive.
 *
 * Each worker that talks to Postgres on its hot path exports a `PgPool` Durable Object class
 * ({@link "./durable-object"}) built from a table of named operations - plain functions
 * `(sql, ...args) => Promise<result>` - and calls them by name through {@link poolOf}: one RPC per
 * operation (a whole transaction runs inside the object), arguments and results passed by
 * structured clone (Dates, Maps and plain objects survive). One object per process
 * (`idFromName("pool")`), so the process holds at most PG_POOL_MAX connections for that worker,
 * whatever the concurrency.
 *
 * Why operations and not a remote `sql` tag: postgres.js's helpers (`sql(list)`, `sql.json`,
 * `sql.begin`) and result objects do not survive structured clone, and a whole operation in one
 * RPC costs one hop instead of one per statement.
 */
import { queryDuration } from "../observe/families";
import type { Sql } from "../db";

/** An operation run inside the pool object with its pooled client. */
export type Op = (sql: Sql, ...args: any[]) => Promise<unknown>;
export type Ops = Record<string, Op>;

type OpArgs<F> = F extends (sql: Sql, ...args: infer A) => unknown ? A : never;
type OpResult<F> = F extends (...args: any[]) => Promise<infer R> ? R : never;

/** How an operation ended, as it crosses the RPC boundary (errors keep their Postgres code). */
export type Outcome =
  { ok: true; value: unknown } | { ok: false; error: { name: string; message: string; code?: string } };

/** The pool as a worker sees it: operations by name. */
export interface Pool<O extends Ops> {
  run<K extends keyof O & string>(op: K, ...args: OpArgs<O[K]>): Promise<OpResult<O[K]>>;
}

/** The RPC surface of the pool object. */
export interface PoolStub {
  run(op: string, args: unknown[]): Promise<Outcome>;
}

/** The Durable Object namespace binding (PG_POOL) as far as this module needs it. */
export interface PoolNamespace {
  idFromName(name: string): unknown;
  get(id: never): unknown;
}

/** An error re-created on the caller's side: `code` (Postgres SQLSTATE, ECONNREFUSED, ...) kept. */
export class PoolError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "PoolError";
  }
}

const ids = new WeakMap<PoolNamespace, unknown>();

/** The pool behind `binding` (the worker's PG_POOL Durable Object namespace). */
export function poolOf<O extends Ops>(binding: unknown): Pool<O> {
  const ns = binding as PoolNamespace | undefined;
  if (!ns || typeof ns.idFromName !== "function")
    throw new Error("PG_POOL binding missing: the worker's config must bind its PgPool Durable Object");
  // the id is plain data (unlike the stub, which belongs to the request): computed once per namespace
  let id = ids.get(ns);
  if (!id) ids.set(ns, (id = ns.idFromName("pool")));
  const stub = ns.get(id as never) as PoolStub;
  return {
    async run(op, ...args) {
      const out = await stub.run(op, args);
      if (!out.ok) throw new PoolError(out.error.message, out.error.code);
      return out.value as never;
    },
  };
}

/** Runs `op` from `ops` with `sql`; what the pool object does for each call. Never throws. */
export async function runOp(ops: Ops, sql: Sql, op: string, args: unknown[]): Promise<Outcome> {
  const fn = Object.hasOwn(ops, op) ? ops[op] : undefined;
  if (!fn) return { ok: false, error: { name: "Error", message: `unknown pool operation ${op}` } };
  const started = performance.now();
  try {
    return { ok: true, value: await fn(sql, ...args) };
  } catch (err) {
    const e = err as { name?: string; message?: string; code?: unknown; errno?: unknown };
    const code = e?.code ?? e?.errno;
    return {
      ok: false,
      error: {
        name: String(e?.name ?? "Error"),
        message: String(e?.message ?? err),
        ...(code !== undefined ? { code: String(code) } : {}),
      },
    };
  } finally {
    queryDuration.observe({ op }, (performance.now() - started) / 1000);
  }
}
