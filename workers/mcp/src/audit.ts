/**
 * Audit of tool calls (audit_log kind 'tool_call'): who, which server and tool, outcome,
 * duration - never arguments. Written after the response: records are queued per isolate and
 * inserted in batches by the waitUntil of the request that started the batch, so a busy gateway
 * spends one Postgres connection per batch instead of one per call.
 */
import { createSql } from "../../../shared/db";
import { log } from "../../../shared/log";

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
const queue: ToolCallRecord[] = [];
let flushing: Promise<void> | null = null;

async function flush(url: string): Promise<void> {
  await new Promise((r) => setTimeout(r, BATCH_DELAY_MS));
  const sql = createSql(url);
  try {
    while (queue.length) {
      const batch = queue.splice(0, BATCH_MAX).map((r) => ({
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
        await sql`INSERT INTO audit_log ${sql(batch, "kind", "actor", "action", "target", "server_id", "tool", "outcome", "duration_ms")}`;
      } catch (err) {
        log.warn("audit write failed", { records: batch.length, message: String((err as Error)?.message ?? err) });
      }
    }
  } finally {
    await sql.end({ timeout: 5 }).catch(() => {});
  }
}

/**
 * Queues one tool call for the audit log and resolves once a batch containing it was written
 * (hand the promise to waitUntil). Never throws.
 */
export async function recordToolCall(databaseUrl: string, r: ToolCallRecord): Promise<void> {
  queue.push(r);
  for (let attempt = 0; attempt < 5 && queue.includes(r); attempt++) {
    flushing ??= flush(databaseUrl)
      .catch(() => {})
      .finally(() => {
        flushing = null;
      });
    await flushing;
  }
}
