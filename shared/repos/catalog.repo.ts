/**
 * Upstream snapshots (server_items), health (server_status) and the history of item changes
 * (item_changes). Written by the catalog worker after listing an upstream, read by its caches.
 *
 * server_items has a statement-level trigger that bumps catalog_state.version, so a refresh
 * issues statements against it only when something changed; a change of health (ok/error,
 * capabilities, ...) bumps the version explicitly. An unchanged refresh leaves the version alone,
 * so caches stay warm.
 */
import type postgres from "postgres";
import { ITEM_KINDS, itemKey, type ItemKind, type McpItem } from "../catalog.schema";
import type { Sql, TxSql } from "../db";
import { ServerRow } from "../schemas";
import { itemHash } from "./item-hash";
import { listVirtualServers, type VirtualServer } from "./virtual.repo";
import { kindKey, loadCuration, type ApprovedTool, type LiveItem, type ToolOverride } from "./review.repo";

export { itemHash };

/** The protocol era of an upstream (MCP versioning): 2026-07-28+ stateless, or initialize-based. */
export type UpstreamEra = "modern" | "legacy";
/** The transport an upstream answered on: Streamable HTTP, or the deprecated HTTP+SSE. */
export type DetectedTransport = "streamable-http" | "sse";
/** ttlMs / cacheScope of a cacheable result (2026-07-28 caching), per method. */
export type CacheHints = Partial<
  Record<
    "server/discover" | "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list",
    { ttlMs?: number; cacheScope?: "public" | "private" }
  >
>;

export interface StatusRow {
  server_id: string;
  ok: boolean;
  error: string | null;
  protocol_version: string | null;
  server_info: Record<string, unknown> | null;
  capabilities: Record<string, unknown> | null;
  instructions: string | null;
  tool_count: number;
  latency_ms: number | null;
  refreshed_at: Date;
  last_ok_at: Date | null;
  /** Era, transport and versions as last detected (null before the first successful listing). */
  era: UpstreamEra | null;
  transport_detected: DetectedTransport | null;
  supported_versions: string[] | null;
  /** When a probe last decided the era (a listing with the remembered era keeps it). */
  era_checked_at: Date | null;
  cache_hints: CacheHints | null;
}

export type ItemsByKind = Record<ItemKind, McpItem[]>;

export interface Snapshot {
  /** catalog_state.version read before the data (so a later change always shows as newer). */
  version: number;
  status: Map<string, StatusRow>;
  items: Map<string, ItemsByKind>;
  /** Per server: the content hash of each listed tool, by name (reviewed definitions pin these). */
  toolHashes?: Map<string, Map<string, string>>;
  /** Per server: approved tool definitions, by upstream name (servers under review). */
  approved?: Map<string, Map<string, ApprovedTool>>;
  /** Per server: the content hash of each listed prompt, resource and template, by `kindKey`. */
  itemHashes?: Map<string, Map<string, string>>;
  /** Per server: approved prompts, resources and templates, by `kindKey` (servers under review). */
  approvedItems?: Map<string, Map<string, ApprovedTool>>;
  /** Per server: tool overrides, by upstream name. */
  overrides?: Map<string, Map<string, ToolOverride>>;
  /** Virtual servers, by id. */
  virtuals?: Map<string, VirtualServer>;
}

const emptyItems = (): ItemsByKind => ({ tool: [], prompt: [], resource: [], resource_template: [] });

function toStatus(r: Record<string, unknown>): StatusRow {
  return {
    server_id: String(r.server_id),
    ok: Boolean(r.ok),
    error: (r.error as string | null) ?? null,
    protocol_version: (r.protocol_version as string | null) ?? null,
    server_info: (r.server_info as Record<string, unknown> | null) ?? null,
    capabilities: (r.capabilities as Record<string, unknown> | null) ?? null,
    instructions: (r.instructions as string | null) ?? null,
    tool_count: Number(r.tool_count ?? 0),
    latency_ms: r.latency_ms == null ? null : Number(r.latency_ms),
    refreshed_at: new Date(r.refreshed_at as string | Date),
    last_ok_at: r.last_ok_at == null ? null : new Date(r.last_ok_at as string | Date),
    era: (r.era as UpstreamEra | null) ?? null,
    transport_detected: (r.transport_detected as DetectedTransport | null) ?? null,
    supported_versions: (r.supported_versions as string[] | null) ?? null,
    era_checked_at: r.era_checked_at == null ? null : new Date(r.era_checked_at as string | Date),
    cache_hints: (r.cache_hints as CacheHints | null) ?? null,
  };
}

/** Every server's status and items (in the upstream's order), read in one repeatable-read snapshot. */
export async function loadSnapshot(sql: Sql): Promise<Snapshot> {
  return (await sql.begin("isolation level repeatable read read only", async (tx) => {
    const [state] = await tx`SELECT version FROM catalog_state`;
    const statusRows = await tx`SELECT * FROM server_status`;
    const itemRows =
      await tx`SELECT server_id, kind, name, definition, hash FROM server_items ORDER BY server_id, kind, position, name`;
    const { approved, approvedItems, overrides } = await loadCuration(tx);
    const virtuals = new Map((await listVirtualServers(tx)).map((v) => [v.id, v]));
    const toolHashes = new Map<string, Map<string, string>>();
    const itemHashes = new Map<string, Map<string, string>>();
    const status = new Map(statusRows.map((r) => [String(r.server_id), toStatus(r)]));
    const items = new Map<string, ItemsByKind>();
    for (const r of itemRows) {
      const id = String(r.server_id);
      let byKind = items.get(id);
      if (!byKind) items.set(id, (byKind = emptyItems()));
      byKind[r.kind as ItemKind]?.push(r.definition as McpItem);
      const tool = r.kind === "tool";
      const byServer = tool ? toolHashes : itemHashes;
      let h = byServer.get(id);
      if (!h) byServer.set(id, (h = new Map()));
      h.set(tool ? String(r.name) : kindKey(r.kind as ItemKind, String(r.name)), String(r.hash));
    }
    return {
      version: Number(state?.version ?? 0),
      status,
      items,
      toolHashes,
      approved,
      itemHashes,
      approvedItems,
      overrides,
      virtuals,
    };
  })) as Snapshot;
}

/** What listing an upstream gave. */
export type RefreshResult =
  | {
      ok: true;
      items: ItemsByKind;
      protocolVersion: string | null;
      serverInfo: Record<string, unknown> | null;
      capabilities: Record<string, unknown> | null;
      instructions: string | null;
      era: UpstreamEra;
      transport: DetectedTransport;
      supportedVersions: string[];
      /** Whether a probe decided the era now (else the remembered era was used, and confirmed). */
      probed: boolean;
      cacheHints: CacheHints | null;
      latencyMs: number;
    }
  | { ok: false; error: string; latencyMs: number };

export interface WriteOptions {
  /**
   * servers.updated_at as read before listing. When the row changed since (new url, headers, ...),
   * the listing describes an outdated configuration and nothing is written (`superseded`).
   */
  expectUpdatedAt?: Date;
  /**
   * Runs in the refresh's transaction after a successful listing's items were written, with the
   * server's review mode and every item it listed (reviewed definitions: review.repo.ts).
   */
  afterItems?: (tx: TxSql, review: string, items: LiveItem[]) => Promise<void>;
}

export type WriteOutcome =
  { superseded: false; status: StatusRow; changes: ItemChange[] } | { superseded: true } | null;

export interface ItemChange {
  kind: ItemKind;
  name: string;
  change: "added" | "removed" | "changed";
  before: McpItem | null;
  after: McpItem | null;
}

const json = (sql: Sql | TxSql, v: unknown) => sql.json(v as postgres.JSONValue);

/**
 * Stores one refresh in a single transaction (serialised per server by an advisory lock): the
 * items diffed against the stored ones (added/removed/changed rows written to item_changes, only
 * changed rows touched; the first good listing is the baseline and records no changes), and the
 * server's status. A failed refresh keeps the previous items and
 * the last good initialize data. Returns null when the server no longer exists.
 */
export async function writeRefresh(
  sql: Sql,
  serverId: string,
  result: RefreshResult,
  opts: WriteOptions = {},
): Promise<WriteOutcome> {
  // hash outside the transaction (async crypto, no reason to hold the lock for it)
  const fresh = new Map<
    string,
    { kind: ItemKind; name: string; definition: McpItem; hash: string; position: number }
  >();
  if (result.ok) {
    for (const kind of ITEM_KINDS) {
      let position = 0;
      for (const definition of result.items[kind]) {
        const name = itemKey(kind, definition);
        if (name === undefined || fresh.has(`${kind}\u0000${name}`)) continue;
        fresh.set(`${kind}\u0000${name}`, {
          kind,
          name,
          definition,
          hash: await itemHash(definition),
          position: position++,
        });
      }
    }
  }
  return (await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext(${"mcpgw-catalog-refresh:" + serverId}))`;
    const [server] = await tx`SELECT updated_at, review FROM servers WHERE id = ${serverId}`;
    if (!server) return null;
    if (opts.expectUpdatedAt && new Date(server.updated_at as string).getTime() !== opts.expectUpdatedAt.getTime())
      return { superseded: true };
    const [prevRow] = await tx`SELECT * FROM server_status WHERE server_id = ${serverId}`;
    const prev = prevRow ? toStatus(prevRow) : null;
    const changes: ItemChange[] = [];
    let itemsTouched = false;
    if (result.ok) {
      const stored =
        await tx`SELECT kind, name, definition, hash, position FROM server_items WHERE server_id = ${serverId}`;
      const old = new Map(stored.map((r) => [`${r.kind}\u0000${r.name}`, r]));
      const upserts: { kind: string; name: string; definition: McpItem; hash: string; position: number }[] = [];
      const removed: { kind: string; name: string }[] = [];
      for (const [key, item] of fresh) {
        const o = old.get(key);
        if (!o) {
          upserts.push(item);
          changes.push({ kind: item.kind, name: item.name, change: "added", before: null, after: item.definition });
        } else if (o.hash !== item.hash) {
          upserts.push(item);
          changes.push({
            kind: item.kind,
            name: item.name,
            change: "changed",
            before: o.definition as McpItem,
            after: item.definition,
          });
        } else if (Number(o.position) !== item.position) {
          upserts.push(item); // reordered only: no change record
        }
      }
      for (const [key, o] of old) {
        if (fresh.has(key)) continue;
        removed.push({ kind: String(o.kind), name: String(o.name) });
        changes.push({
          kind: o.kind as ItemKind,
          name: String(o.name),
          change: "removed",
          before: o.definition as McpItem,
          after: null,
        });
      }
      if (removed.length) {
        await tx`DELETE FROM server_items WHERE server_id = ${serverId} AND (kind, name) IN (
                   SELECT r.kind, r.name FROM jsonb_to_recordset(${json(tx, removed)}) AS r(kind text, name text))`;
      }
      if (upserts.length) {
        await tx`INSERT INTO server_items (server_id, kind, name, definition, hash, position)
                 SELECT ${serverId}, r.kind, r.name, r.definition, r.hash, r.position
                 FROM jsonb_to_recordset(${json(tx, upserts)}) AS r(kind text, name text, definition jsonb, hash text, position integer)
                 ON CONFLICT (server_id, kind, name) DO UPDATE
                   SET definition = EXCLUDED.definition, hash = EXCLUDED.hash, position = EXCLUDED.position, updated_at = now()`;
      }
      // the first good listing (nothing stored, never listed before) is the baseline: its items
      // are what the server offers, not changes to report
      const baseline = old.size === 0 && !prev?.last_ok_at;
      if (baseline) changes.length = 0;
      if (changes.length) {
        await tx`INSERT INTO item_changes (server_id, kind, name, change, before, after)
                 SELECT ${serverId}, r.kind, r.name, r.change, r.before, r.after
                 FROM jsonb_to_recordset(${json(tx, changes)}) AS r(kind text, name text, change text, before jsonb, after jsonb)`;
      }
      itemsTouched = removed.length > 0 || upserts.length > 0;
      if (opts.afterItems) {
        const items = [...fresh.values()].map(({ kind, name, definition, hash }) => ({ kind, name, definition, hash }));
        await opts.afterItems(tx, String(server.review ?? "auto"), items);
      }
      const toolCount = [...fresh.values()].filter((i) => i.kind === "tool").length;
      const [row] = await tx`
        INSERT INTO server_status (server_id, ok, error, protocol_version, server_info, capabilities, instructions, tool_count, latency_ms, refreshed_at, last_ok_at,
                                   era, transport_detected, supported_versions, era_checked_at, cache_hints)
        VALUES (${serverId}, true, NULL, ${result.protocolVersion}, ${json(tx, result.serverInfo)}, ${json(tx, result.capabilities)}, ${result.instructions},
                ${toolCount}, ${result.latencyMs}, now(), now(),
                ${result.era}, ${result.transport}, ${json(tx, result.supportedVersions)}, now(), ${result.cacheHints ? json(tx, result.cacheHints) : null})
        ON CONFLICT (server_id) DO UPDATE SET ok = true, error = NULL, protocol_version = EXCLUDED.protocol_version,
          server_info = EXCLUDED.server_info, capabilities = EXCLUDED.capabilities, instructions = EXCLUDED.instructions,
          tool_count = EXCLUDED.tool_count, latency_ms = EXCLUDED.latency_ms, refreshed_at = now(), last_ok_at = now(),
          era = EXCLUDED.era, transport_detected = EXCLUDED.transport_detected, supported_versions = EXCLUDED.supported_versions,
          era_checked_at = CASE WHEN ${result.probed} OR server_status.era IS DISTINCT FROM EXCLUDED.era
                                  OR server_status.transport_detected IS DISTINCT FROM EXCLUDED.transport_detected
                                THEN now() ELSE server_status.era_checked_at END,
          cache_hints = EXCLUDED.cache_hints
        RETURNING *`;
      const status = toStatus(row!);
      if (!itemsTouched && (healthChanged(prev, status) || resolvesChange(prev, server)))
        await tx`UPDATE catalog_state SET version = version + 1, changed_at = now()`;
      return { superseded: false, status, changes };
    }
    const [row] = await tx`
      INSERT INTO server_status (server_id, ok, error, latency_ms, refreshed_at)
      VALUES (${serverId}, false, ${result.error}, ${result.latencyMs}, now())
      ON CONFLICT (server_id) DO UPDATE SET ok = false, error = EXCLUDED.error, latency_ms = EXCLUDED.latency_ms, refreshed_at = now()
      RETURNING *`;
    const status = toStatus(row!);
    if (healthChanged(prev, status) || resolvesChange(prev, server))
      await tx`UPDATE catalog_state SET version = version + 1, changed_at = now()`;
    return { superseded: false, status, changes };
  })) as WriteOutcome;
}

/** The previous snapshot predates a change of the server row: caches must see the new one. */
function resolvesChange(prev: StatusRow | null, server: Record<string, unknown>): boolean {
  return !prev || prev.refreshed_at.getTime() < new Date(server.updated_at as string).getTime();
}

function healthChanged(a: StatusRow | null, b: StatusRow): boolean {
  if (!a) return true;
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  return (
    a.ok !== b.ok ||
    a.error !== b.error ||
    a.protocol_version !== b.protocol_version ||
    a.instructions !== b.instructions ||
    a.era !== b.era ||
    a.transport_detected !== b.transport_detected ||
    !same(a.supported_versions, b.supported_versions) ||
    !same(a.cache_hints, b.cache_hints) ||
    !same(a.server_info, b.server_info) ||
    !same(a.capabilities, b.capabilities)
  );
}

/**
 * Claims a due refresh of one server across isolates and replicas: moves its refreshed_at to now
 * when it is older than `olderThanSeconds`, and says whether this caller won. The winner then
 * refreshes; everyone else keeps serving what they have, and gets the current status row (so a
 * refresh done elsewhere shows without a version bump). A server changed since its snapshot is
 * never claimed here (its next use refreshes it inline).
 */
export async function claimRefresh(
  sql: Sql,
  serverId: string,
  olderThanSeconds: number,
): Promise<{ claimed: boolean; status: StatusRow | null }> {
  const rows = await sql`
    WITH claimed AS (
      UPDATE server_status SET refreshed_at = now()
      WHERE server_id = ${serverId} AND refreshed_at < now() - make_interval(secs => ${olderThanSeconds})
        AND refreshed_at >= (SELECT updated_at FROM servers WHERE id = ${serverId})
      RETURNING server_id)
    SELECT st.*, EXISTS (SELECT 1 FROM claimed) AS claimed FROM server_status st WHERE st.server_id = ${serverId}`;
  const row = rows[0];
  return { claimed: Boolean(row?.claimed), status: row ? toStatus(row) : null };
}

/**
 * The era an upstream was last detected in, to try first on its next listing: null when never
 * detected, or when the server row (url, transport, headers) changed since the verdict.
 */
export async function loadEraHint(
  sql: Sql,
  serverId: string,
): Promise<{ era: UpstreamEra; transport: DetectedTransport; checkedAt: Date } | null> {
  const [row] = await sql`
    SELECT st.era, st.transport_detected, st.era_checked_at FROM server_status st JOIN servers s ON s.id = st.server_id
    WHERE st.server_id = ${serverId} AND st.era IS NOT NULL AND st.era_checked_at >= s.updated_at`;
  if (!row?.era || !row.transport_detected || !row.era_checked_at) return null;
  return {
    era: row.era as UpstreamEra,
    transport: row.transport_detected as DetectedTransport,
    checkedAt: new Date(row.era_checked_at as string | Date),
  };
}

/** Every server row (enabled or not), by id. */
export async function listServerRows(sql: Sql): Promise<ServerRow[]> {
  const rows = await sql`SELECT * FROM servers ORDER BY id`;
  return rows.map((r) => ServerRow.parse(r));
}

/** One server row, or null. */
export async function loadServer(sql: Sql, id: string): Promise<ServerRow | null> {
  const [row] = await sql`SELECT * FROM servers WHERE id = ${id}`;
  return row ? ServerRow.parse(row) : null;
}
