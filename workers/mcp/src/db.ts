/**
 * The mcp worker's Postgres: session bookkeeping, the bridge's mailboxes, the audit log and the
 * rate limit's counters, run by the worker's pool (PgPool Durable Object, shared/pool) so a
 * request costs a round trip on an open connection, never a new connection, and a long-lived
 * stream holds none. The SQL lives in shared/repos; this module only names the operations.
 */
import { poolOf, type Pool } from "../../../shared/pool";
import { insertToolCalls } from "../../../shared/repos/audit.repo";
import { bridgeOps } from "../../../shared/repos/mcp-bridge.repo";
import { sessionOps } from "../../../shared/repos/mcp-sessions.repo";
import { addCounts } from "../../../shared/repos/ratelimit.repo";

/** The operations the mcp worker's PgPool runs. */
export const mcpOps = { ...sessionOps, ...bridgeOps, insertToolCalls, addCounts };

export type McpDb = Pool<typeof mcpOps>;

/** The pool behind the PG_POOL binding. */
export function mcpDb(bindings: Record<string, unknown>): McpDb {
  return poolOf<typeof mcpOps>(bindings.PG_POOL);
}
