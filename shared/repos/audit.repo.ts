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

/**
 * Lists audit rows, newest first. Every filter is optional. Tool-call targets read one way,
 * `<server>/<tool>` ({@link toolCallTarget}), rows written before that rule included.
 */
export async function listAudit(db: Db, f: AuditFilter = {}): Promise<AuditEntry[]> {
  const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
  const rows = await db`
    SELECT id, at, kind, actor, action, server_id, tool, outcome, duration_ms, detail,
           CASE WHEN kind = 'tool_call' AND server_id IS NULL AND position('__' IN tool) > 1
                THEN split_part(tool, '__', 1) || '/' || substr(tool, position('__' IN tool) + 2) ELSE target END AS target
    FROM audit_log
    WHERE (${f.kind ?? null}::text IS NULL OR kind = ${f.kind ?? null})
      AND (${f.actor?.toLowerCase() ?? null}::text IS NULL OR lower(actor) = ${f.actor?.toLowerCase() ?? null})
      AND (${f.server ?? null}::text IS NULL OR server_id = ${f.server ?? null} OR target = ${"server:" + (f.server ?? "")}
           OR (kind = 'tool_call' AND server_id IS NULL AND position('__' IN tool) > 1 AND split_part(tool, '__', 1) = ${f.server ?? null}))
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

/**
 * A tool call's target, one way for every call: `<server>/<tool>`. A call stored without a server
 * (a denied name on `/mcp`) is split at its first `__`, so `everything__echo` reads `everything/echo`.
 */
export function toolCallTarget(server: string | null, tool: string): string {
  if (server) return `${server}/${tool}`;
  const at = tool.indexOf("__");
  return at > 0 ? `${tool.slice(0, at)}/${tool.slice(at + 2)}` : tool;
}

/** Inserts tool-call rows in one statement. */
export async function insertToolCalls(db: Db, rows: ToolCallRow[]): Promise<void> {
  const full = rows.map((r) => ({
    kind: "tool_call",
    action: "tools/call",
    target: toolCallTarget(r.server_id, r.tool),
    ...r,
  }));
  await db`INSERT INTO audit_log ${db(full, "kind", "actor", "action", "target", "server_id", "tool", "outcome", "duration_ms")}`;
}

/** A sign-in, sign-out or refused credential (kind `auth`); `detail` never holds a credential. */
export interface AuthEvent {
  /** The user's email; `(unknown)` for a credential that names nobody. */
  actor: string;
  /** `login`, `logout` or `credential.refused`. */
  action: string;
  outcome: "ok" | "refused";
  detail: Record<string, unknown>;
}

/** Records an auth event (sign-in, sign-out). */
export async function insertAuthEvent(db: Db, e: AuthEvent): Promise<void> {
  await db`INSERT INTO audit_log (kind, actor, action, outcome, detail) VALUES ('auth', ${e.actor}, ${e.action}, ${e.outcome}, ${db.json(e.detail as never)})`;
}

/**
 * Records a refused credential unless `maxPerMinute` refusals are already recorded in the last
 * minute (across replicas), so a flood of bad keys cannot fill the table. True when written.
 */
export async function insertRefusedCredential(db: Db, e: AuthEvent, maxPerMinute: number): Promise<boolean> {
  const rows = await db`
    INSERT INTO audit_log (kind, actor, action, outcome, detail)
    SELECT 'auth', ${e.actor}, ${e.action}, ${e.outcome}, ${db.json(e.detail as never)}
    WHERE (SELECT count(*) FROM audit_log WHERE kind = 'auth' AND action = ${e.action} AND at >= now() - interval '1 minute') < ${maxPerMinute}
    RETURNING id`;
  return rows.length > 0;
}
