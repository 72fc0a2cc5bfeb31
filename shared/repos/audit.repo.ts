/**
 * The audit log: admin changes (written in the same transaction as the change they record),
 * tool calls (written by the mcp worker) and auth events; read with filters by the admin worker.
 */
import type { Sql, TxSql } from "../db";

/** A client or a transaction: repository functions accept either. */
export type Db = Sql | TxSql;

export interface AdminChange {
  actor: string;
  /** e.g. `tenant.create`, `server.update`, `key.revoke`. */
  action: string;
  /** e.g. `tenant:google`, `user:a@b.c`. */
  target: string;
  /** before/after snapshots; must never hold secrets. */
  detail: Record<string, unknown>;
}

/** Records an admin change. Call it inside the change's transaction. Returns the row id. */
export async function insertAdminChange(db: Db, change: AdminChange): Promise<number> {
  const [row] = await db`
    INSERT INTO audit_log (kind, actor, action, target, detail)
    VALUES ('admin_change', ${change.actor}, ${change.action}, ${change.target}, ${db.json(change.detail as never)})
    RETURNING id`;
  return Number(row!.id);
}

export interface AuditFilter {
  kind?: "tool_call" | "admin_change" | "auth";
  actor?: string;
  server?: string;
  action?: string;
  since?: Date;
  until?: Date;
  /** Default 100, at most 1000. */
  limit?: number;
  /** Only rows with an id below this (paging backwards). */
  before?: number;
}

export interface AuditEntry {
  id: number;
  at: Date;
  kind: string;
  actor: string;
  action: string;
  target: string;
  server: string | null;
  tool: string | null;
  outcome: string;
  durationMs: number | null;
  detail: unknown;
}

/** Lists audit rows, newest first. Every filter is optional. */
export async function listAudit(db: Db, f: AuditFilter = {}): Promise<AuditEntry[]> {
  const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
  const rows = await db`
    SELECT id, at, kind, actor, action, target, server_id, tool, outcome, duration_ms, detail
    FROM audit_log
    WHERE (${f.kind ?? null}::text IS NULL OR kind = ${f.kind ?? null})
      AND (${f.actor?.toLowerCase() ?? null}::text IS NULL OR lower(actor) = ${f.actor?.toLowerCase() ?? null})
      AND (${f.server ?? null}::text IS NULL OR server_id = ${f.server ?? null} OR target = ${"server:" + (f.server ?? "")})
      AND (${f.action ?? null}::text IS NULL OR action = ${f.action ?? null})
      AND (${f.since ?? null}::timestamptz IS NULL OR at >= ${f.since ?? null})
      AND (${f.until ?? null}::timestamptz IS NULL OR at < ${f.until ?? null})
      AND (${f.before ?? null}::bigint IS NULL OR id < ${f.before ?? null})
    ORDER BY at DESC, id DESC
    LIMIT ${limit}`;
  return rows.map((r) => ({
    id: Number(r.id),
    at: new Date(r.at as string),
    kind: String(r.kind),
    actor: String(r.actor),
    action: String(r.action),
    target: String(r.target),
    server: (r.server_id as string | null) ?? null,
    tool: (r.tool as string | null) ?? null,
    outcome: String(r.outcome),
    durationMs: r.duration_ms == null ? null : Number(r.duration_ms),
    detail: r.detail,
  }));
}

/** One tool call as the audit log stores it (kind `tool_call`; never the arguments). */
export interface ToolCallRow {
  actor: string;
  server_id: string | null;
  tool: string;
  outcome: string;
  duration_ms: number;
}

/** Inserts tool-call rows in one statement. */
export async function insertToolCalls(db: Db, rows: ToolCallRow[]): Promise<void> {
  const full = rows.map((r) => ({ kind: "tool_call", action: "tools/call", target: r.server_id ? `${r.server_id}/${r.tool}` : r.tool, ...r }));
  await db`INSERT INTO audit_log ${db(full, "kind", "actor", "action", "target", "server_id", "tool", "outcome", "duration_ms")}`;
}
