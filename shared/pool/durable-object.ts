/**
 * The `PgPool` Durable Object a worker exports (see ./index.ts): a postgres.js client with up to
 * PG_POOL_MAX connections, created on first use and kept for the object's life. The config keeps
 * the object in memory (`preventEviction`, workerd); where it is evicted (Cloudflare, after idle
 * time), the next call opens new connections.
 */
import { DurableObject } from "cloudflare:workers";
import { createSql, type Sql } from "../db";
import { PoolMax } from "../env";
import { runOp, type Ops, type Outcome } from "./index";

export interface PoolEnv {
  DATABASE_URL: string;
  /** Connections the pool may open (shared/env.ts PoolMax; the worker's Env schema validates it). */
  PG_POOL_MAX?: string | null;
}

/** A pooled statement running longer than this is cancelled by Postgres, freeing its connection (ms). */
const STATEMENT_TIMEOUT_MS = 30_000;

/**
 * The Durable Object class running `ops`; export it from the worker as `PgPool`.
 * @param worker the worker's name: its connections show as `mcp-gateway-<worker>` in pg_stat_activity
 */
export function pgPoolClass(ops: Ops, worker: string) {
  return class PgPool extends DurableObject<PoolEnv> {
    private sql?: Sql;

    /** Runs one operation with the pooled client. */
    async run(op: string, args: unknown[]): Promise<Outcome> {
      this.sql ??= createSql(this.env.DATABASE_URL, {
        max: PoolMax.parse(this.env.PG_POOL_MAX || undefined),
        connectTimeout: 3,
        applicationName: `mcp-gateway-${worker}`,
        statementTimeoutMs: STATEMENT_TIMEOUT_MS,
      });
      return runOp(ops, this.sql, op, args);
    }
  };
}
