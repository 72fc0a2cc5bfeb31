/**
 * The mcp worker's Postgres: session bookkeeping, the audit log and the rate limit's counters, run by the worker's pool
 * (PgPool Durable Object, shared/pool) so a request costs a round trip on an open connection,
 * never a new connection, and a long-lived stream holds none.
 */
import { poolOf, type Pool } from "../../../shared/pool";
import { addCounts } from "../../../shared/repos/ratelimit.repo";
import { auditOps } from "./audit";
import { sessionOps } from "./upstream-sessions.repo";

/** The operations the mcp worker's PgPool runs. */
export const mcpOps = { ...sessionOps, ...auditOps, addCounts };

export type McpDb = Pool<typeof mcpOps>;

/** The pool behind the PG_POOL binding. */
export function mcpDb(bindings: Record<string, unknown>): McpDb {
  return poolOf<typeof mcpOps>(bindings.PG_POOL);
}
