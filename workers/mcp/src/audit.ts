/**
 * Audit of tool calls (audit_log kind 'tool_call'): who, which server and tool, outcome,
 * duration - never arguments. Written after the response: records are queued per isolate and
 * inserted in batches by the waitUntil of the request that started the batch, so a busy gateway
 * spends one pool round trip (./db.ts) per batch instead of one per call. When Postgres is briefly
 * unreachable the records stay queued and are retried with backoff (about 15 s in all, within
 * waitUntil's allowance); later calls' flushes also carry them. The queue is bounded
 * ({@link MAX_QUEUE}); only an isolate that dies while Postgres is away loses what it held.
 */
import type { Sql } from "../../../shared/db";
import { log } from "../../../shared/log";
import type { McpDb } from "./db";

export interface ToolCallRecord {
  actor: string;
  /** Null when the name resolved to no visible server (a denied call on /mcp). */
  server: string | null;
  tool: string;
  outcome: "ok" | "error" | "denied";
  durationMs: number;
}

/** How long a batch collects records before it is written (ms). */
const BATCH_DELAY_MS = 100;
const BATCH_MAX = 500;
/** Most records kept waiting for Postgres per isolate; past it the oldest are dropped, logged. */
const MAX_QUEUE = 10_000;
/** Waits between attempts while Postgres is away (ms). */
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];
const queue: ToolCallRecord[] = [];
let flushing: Promise<void> | null = null;

function trim() {
  if (queue.length <= MAX_QUEUE) return;
  const dropped = queue.splice(0, queue.length - MAX_QUEUE);
  log.error("audit queue full; oldest records dropped", { dropped: dropped.length });
}

type AuditRow = { kind: string; actor: string; action: string; target: string; server_id: string | null; tool: string; outcome: string; duration_ms: number };

/** The SQL of this module, run inside the pool object (./db.ts). */
export const auditOps = {
  async insertAudit(sql: Sql, batch: AuditRow[]): Promise<void> {
    await sql`INSERT INTO audit_log ${sql(batch, "kind", "actor", "action", "target", "server_id", "tool", "outcome", "duration_ms")}`;
  },
};

async function flush(db: McpDb): Promise<void> {
  await new Promise((r) => setTimeout(r, BATCH_DELAY_MS));
  while (queue.length) {
    const records = queue.splice(0, BATCH_MAX);
    const batch: AuditRow[] = records.map((r) => ({
      kind: "tool_call",
      actor: r.actor,
      action: "tools/call",
      target: r.server ? `${r.server}/${r.tool}` : r.tool,
      server_id: r.server,
      tool: r.tool.slice(0, 256),
      outcome: r.outcome,
      duration_ms: Math.max(0, Math.round(r.durationMs)),
    }));
    try {
      await db.run("insertAudit", batch);
    } catch (err) {
      // keep them, in order, for the next attempt
      queue.unshift(...records);
      trim();
      log.warn("audit write failed; records kept for retry", { records: records.length, queued: queue.length, message: String((err as Error)?.message ?? err) });
      return;
    }
  }
}

/**
 * Queues one tool call for the audit log and resolves once a batch containing it was written
 * (hand the promise to waitUntil). Never throws.
 */
export async function recordToolCall(db: McpDb, r: ToolCallRecord): Promise<void> {
  queue.push(r);
  trim();
  for (let attempt = 0; attempt <= BACKOFF_MS.length && queue.includes(r); attempt++) {
    if (attempt > 0) await new Promise((res) => setTimeout(res, BACKOFF_MS[attempt - 1]));
    flushing ??= flush(db)
      .catch(() => {})
      .finally(() => {
        flushing = null;
      });
    await flushing;
  }
}
