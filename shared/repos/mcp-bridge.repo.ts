/**
 * The mcp worker's bridge state in Postgres (migration 0010): mailbox items per box, one claim
 * per box, and the log level of session-era sessions. Run inside the mcp worker's pool object.
 */
import type { Sql } from "../db";

export const bridgeOps = {
  async putMailbox(sql: Sql, box: string, item: unknown): Promise<void> {
    await sql`INSERT INTO mcp_mailbox (box, item) VALUES (${box}, ${sql.json(item as never)})`;
  },
  /** Items of `box` after the item with id `after` (0: from the start), in order. */
  async readMailbox(sql: Sql, box: string, after: number): Promise<{ id: number; item: unknown }[]> {
    const rows = await sql`SELECT id, item FROM mcp_mailbox WHERE box = ${box} AND id > ${after} ORDER BY id LIMIT 500`;
    return rows.map((r) => ({ id: Number(r.id), item: r.item }));
  },
  /** True once: the first caller to claim `box` gets it. */
  async claimMailbox(sql: Sql, box: string): Promise<boolean> {
    const rows = await sql`INSERT INTO mcp_mailbox_claims (box) VALUES (${box}) ON CONFLICT DO NOTHING RETURNING box`;
    return rows.length === 1;
  },
  async setSessionLevel(sql: Sql, sid: string, level: string): Promise<void> {
    await sql`INSERT INTO mcp_session_levels (session_id, log_level) VALUES (${sid}, ${level})
              ON CONFLICT (session_id) DO UPDATE SET log_level = EXCLUDED.log_level, updated_at = now()`;
  },
  async sessionLevel(sql: Sql, sid: string): Promise<string | null> {
    const [row] = await sql`SELECT log_level FROM mcp_session_levels WHERE session_id = ${sid}`;
    return row ? String(row.log_level) : null;
  },
  /** Drops mailboxes, claims and levels older than `maxAgeSeconds`. */
  async purgeBridge(sql: Sql, maxAgeSeconds: number): Promise<void> {
    await sql`DELETE FROM mcp_mailbox WHERE created_at < now() - make_interval(secs => ${maxAgeSeconds})`;
    await sql`DELETE FROM mcp_mailbox_claims WHERE claimed_at < now() - make_interval(secs => ${maxAgeSeconds})`;
    await sql`DELETE FROM mcp_session_levels WHERE updated_at < now() - make_interval(secs => ${maxAgeSeconds})`;
  },
};
