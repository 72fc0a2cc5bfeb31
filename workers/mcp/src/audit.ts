/**
 * Audit of tool calls (audit_log kind 'tool_call'): who, which server and tool, outcome,
 * duration - never arguments. Written after the response: records are queued per isolate and
 * inserted in batches by the waitUntil of the request that started the batch (the "drainer"),
 * so a busy gateway spends one pool round trip (./db.ts) per batch instead of one per call. A
 * call made while a drainer runs only queues its record: the drainer keeps writing until the
 * queue is empty (no request waits on another's I/O, which workerd cancels as hung). When
 * Postgres is briefly unreachable the records stay queued and the drainer retries with backoff
 * (about 15 s in all, within waitUntil's allowance); the next call's drainer carries what is left.
 * The queue is bounded ({@link MAX_QUEUE}); only an isolate that dies while Postgres is away
 * loses what it held.
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
/** When the running drainer started (0: none). A drainer older than {@link DRAINER_STALE_MS} is presumed dead. */
let drainingSince = 0;
const DRAINER_STALE_MS = 25_000;

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

/** Writes batches until the queue is empty (true) or a write fails (false). */
async function flush(db: McpDb): Promise<boolean> {
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
      return false;
    }
  }
  return true;
}

/**
 * Queues one tool call for the audit log; when no drainer runs in this isolate, becomes it and
 * resolves once the queue is written (hand the promise to waitUntil). Never throws.
 */
export async function recordToolCall(db: McpDb, r: ToolCallRecord): Promise<void> {
  queue.push(r);
  trim();
  const now = Date.now();
  if (drainingSince && now - drainingSince < DRAINER_STALE_MS) return; // the running drainer writes it
  drainingSince = now;
  try {
    await new Promise((res) => setTimeout(res, BATCH_DELAY_MS));
    for (let attempt = 0; attempt <= BACKOFF_MS.length; attempt++) {
      if (attempt > 0) await new Promise((res) => setTimeout(res, BACKOFF_MS[attempt - 1]));
      if (await flush(db).catch(() => false)) break;
    }
  } finally {
    // synchronously after the last look at the queue: a record queued later starts a new drainer
    drainingSince = 0;
  }
}
