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
import { poolConnections } from "../observe/families";

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
    private inFlight = 0;

    /**
     * Runs one operation with the pooled client. The operations in flight beyond PG_POOL_MAX wait
     * for a connection: mcpgw_pg_pool_connections{state="in_use"|"waiting"} (the object runs in
     * its worker's isolate under workerd, so the worker's /metrics shows it).
     */
    async run(op: string, args: unknown[]): Promise<Outcome> {
      const max = PoolMax.parse(this.env.PG_POOL_MAX || undefined);
      this.inFlight++;
      this.gauge(max);
      try {
        return await this.runOn(op, args, max);
      } finally {
        this.inFlight--;
        this.gauge(max);
      }
    }

    private gauge(max: number): void {
      poolConnections.set({ state: "in_use" }, Math.min(this.inFlight, max));
      poolConnections.set({ state: "waiting" }, Math.max(0, this.inFlight - max));
      poolConnections.set({ state: "max" }, max);
    }

    private runOn(op: string, args: unknown[], max: number): Promise<Outcome> {
      this.sql ??= createSql(this.env.DATABASE_URL, {
        max,
        connectTimeout: 3,
        applicationName: `mcp-gateway-${worker}`,
        statementTimeoutMs: STATEMENT_TIMEOUT_MS,
      });
      return runOp(ops, this.sql, op, args);
    }
  };
}
