/**
 * Audit of tool calls (audit_log kind 'tool_call'): who, which server and tool, outcome,
 * duration - never arguments. Written after the response: records are queued per isolate and
 * inserted in batches by the waitUntil of the request that started the batch (the "drainer"),
 * so a busy gateway spends one pool round trip (./db.ts) per batch instead of one per call. A
 * call made while a drainer runs only queues its record: the drainer keeps writing until the
 * queue is empty (no request waits on another's I/O, which workerd cancels as hung).
 *
 * No record can block the queue. Values are made storable before they are queued (control
 * characters, NUL included, replaced; lengths bounded). When Postgres refuses a batch for its
 * data (an SQLSTATE that retrying cannot fix), the batch is written row by row and a row refused
 * on its own is quarantined: logged with its reason, counted in {@link auditStats}, dropped. Only
 * an unreachable database keeps records queued: the drainer retries with backoff (about 15 s in
 * all, within waitUntil's allowance) and the next call's drainer carries what is left. The queue
 * is bounded ({@link MAX_QUEUE}); only an isolate that dies while Postgres is away loses what it held.
 */
import { log } from "../../../shared/log";
import type { ToolCallRow } from "../../../shared/repos/audit.repo";
import type { McpDb } from "./db";

export interface ToolCallRecord {
  actor: string;
  /** Null when the name resolved to no visible server (a denied call on /mcp). */
  server: string | null;
  tool: string;
  /** `resumed`: the stream ended before the answer and the client continues it (session-era resumption). */
  outcome: "ok" | "error" | "denied" | "resumed";
  durationMs: number;
}

/** How long a batch collects records before it is written (ms). */
const BATCH_DELAY_MS = 100;
const BATCH_MAX = 500;
/** Most records kept waiting for Postgres per isolate; past it the oldest are dropped, logged. */
const MAX_QUEUE = 10_000;
/** Waits between attempts while Postgres is away (ms). */
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];
const queue: ToolCallRow[] = [];
/** When the running drainer started (0: none). A drainer older than {@link DRAINER_STALE_MS} is presumed dead. */
let drainingSince = 0;
const DRAINER_STALE_MS = 25_000;

/** Per isolate: records written, quarantined (refused by Postgres on their own) and dropped (queue full). */
export const auditStats = { written: 0, quarantined: 0, dropped: 0 };

function trim() {
  if (queue.length <= MAX_QUEUE) return;
  const dropped = queue.splice(0, queue.length - MAX_QUEUE);
  auditStats.dropped += dropped.length;
  log.error("audit queue full; oldest records dropped", { dropped: dropped.length });
}

/** Text as Postgres `text` can hold it: no NUL or other control characters, at most `max` characters. */
function storable(s: string, max: number): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, "\uFFFD").slice(0, max);
}

/** Whether a failed write could succeed later (the database away or busy), as opposed to refusing this data. */
function transient(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return true; // no SQLSTATE: connection-level
  return /^(08|53|57|58|40)/.test(code);
}

/** Writes rows; on a data error, one by one, quarantining those refused alone. Returns the rows still to write (Postgres away). */
async function write(db: McpDb, rows: ToolCallRow[]): Promise<ToolCallRow[]> {
  try {
    await db.run("insertToolCalls", rows);
    auditStats.written += rows.length;
    return [];
  } catch (err) {
    if (transient(err)) return rows;
    if (rows.length === 1) {
      auditStats.quarantined++;
      log.error("audit record refused by Postgres; quarantined", {
        code: String((err as { code?: unknown }).code),
        message: String((err as Error)?.message ?? err),
        record: { ...rows[0], tool: rows[0]!.tool.slice(0, 80) },
      });
      return [];
    }
    const left: ToolCallRow[] = [];
    for (const [i, row] of rows.entries()) {
      const rest = await write(db, [row]);
      // Postgres went away meanwhile: keep this row and every one after it
      if (rest.length) return [...left, ...rows.slice(i)];
    }
    return left;
  }
}

/** Writes batches until the queue is empty (true) or Postgres is unreachable (false). */
async function flush(db: McpDb): Promise<boolean> {
  while (queue.length) {
    const batch = queue.splice(0, BATCH_MAX);
    const left = await write(db, batch);
    if (left.length) {
      // keep them, in order, for the next attempt
      queue.unshift(...left);
      trim();
      log.warn("audit write failed; records kept for retry", { records: left.length, queued: queue.length });
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
  queue.push({
    actor: storable(r.actor, 320),
    server_id: r.server === null ? null : storable(r.server, 64),
    tool: storable(r.tool, 256),
    outcome: r.outcome,
    duration_ms: Math.max(0, Math.min(2_147_483_647, Math.round(r.durationMs))),
  });
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
