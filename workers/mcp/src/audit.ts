/** Audit of tool calls (audit_log kind 'tool_call'): who, which server and tool, outcome, duration - never arguments. */
import type { Sql } from "../../../shared/db";
import { log } from "../../../shared/log";

export interface ToolCallRecord {
  actor: string;
  /** Null when the name resolved to no visible server (a denied call on /mcp). */
  server: string | null;
  tool: string;
  outcome: "ok" | "error" | "denied";
  durationMs: number;
}

/** Writes one tool call; failures are logged, never thrown (the call has been answered). */
export async function recordToolCall(sql: () => Sql, r: ToolCallRecord): Promise<void> {
  try {
    await sql()`
      INSERT INTO audit_log (kind, actor, action, target, server_id, tool, outcome, duration_ms)
      VALUES ('tool_call', ${r.actor}, 'tools/call', ${r.server ? `${r.server}/${r.tool}` : r.tool}, ${r.server}, ${r.tool.slice(0, 256)}, ${r.outcome}, ${Math.max(0, Math.round(r.durationMs))})`;
  } catch (err) {
    log.warn("audit write failed", { actor: r.actor, server: r.server, tool: r.tool, message: String((err as Error)?.message ?? err) });
  }
}
