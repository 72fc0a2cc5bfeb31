/**
 * Reviewed tool definitions and per-tool overrides (migration 0012): approved_tools,
 * tool_reviews, tool_overrides.
 *
 * Under `review: "hold"` (or `"findings"`) a server's tools are served in their approved
 * definition only. {@link reconcileReviews} runs in the catalog's refresh transaction after every
 * successful listing and keeps one pending review per tool whose listed definition differs from
 * the approved one (or one for the whole set on the first listing of a server under hold);
 * {@link decideReview} approves or rejects one. Every decision writes an admin_change audit row
 * in the same transaction.
 */
import type postgres from "postgres";
import { sha256Hex } from "../crypto";
import type { McpItem } from "../catalog.schema";
import { checkDefinition, type Finding } from "../poisoning";
import { insertAdminChange, type Db } from "./audit.repo";
import { itemHash } from "./item-hash";

export type ReviewMode = "auto" | "hold" | "findings";
export type ReviewState = "pending" | "approved" | "rejected" | "superseded";

/** The actor of approvals the gateway makes itself (`review: "findings"`, a definition without findings). */
export const AUTO_REVIEWER = "review:auto";

export interface LiveTool {
  name: string;
  definition: McpItem;
  hash: string;
}

export interface ApprovedTool {
  definition: McpItem;
  hash: string;
}

export interface ToolOverride {
  tool: string;
  /** Name users see instead (null: the upstream's). */
  name: string | null;
  /** Description users see instead (null: the upstream's). */
  description: string | null;
  hidden: boolean;
}

export interface Review {
  id: number;
  at: Date;
  server: string;
  scope: "set" | "tool";
  /** The tool's upstream name ("" for a set). */
  name: string;
  change: "initial" | "added" | "changed";
  /** The approved definition this would replace (null: none). */
  before: unknown;
  /** The definition as listed (a set: an array of definitions). */
  after: unknown;
  hash: string;
  /** Poisoning findings (a set: per tool, `path` prefixed with `<tool>: `). */
  findings: Finding[];
  state: ReviewState;
  decidedAt: Date | null;
  decidedBy: string | null;
}

const json = (db: Db, v: unknown) => db.json(v as postgres.JSONValue);

/** The content hash of a whole set: of its names and definition hashes, sorted by name. */
export function setHash(tools: LiveTool[]): Promise<string> {
  return sha256Hex(
    JSON.stringify(tools.map((t) => [t.name, t.hash]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0))),
  );
}

function toReview(r: Record<string, unknown>): Review {
  return {
    id: Number(r.id),
    at: new Date(r.at as string),
    server: String(r.server_id),
    scope: r.scope as Review["scope"],
    name: String(r.name),
    change: r.change as Review["change"],
    before: r.before ?? null,
    after: r.after,
    hash: String(r.hash),
    findings: (r.findings as Finding[]) ?? [],
    state: r.state as ReviewState,
    decidedAt: r.decided_at ? new Date(r.decided_at as string) : null,
    decidedBy: (r.decided_by as string | null) ?? null,
  };
}

async function upsertApproved(db: Db, serverId: string, tools: LiveTool[], actor: string): Promise<void> {
  if (!tools.length) return;
  await db`INSERT INTO approved_tools (server_id, name, definition, hash, approved_by)
           SELECT ${serverId}, r.name, r.definition, r.hash, ${actor}
           FROM jsonb_to_recordset(${json(db, tools)}) AS r(name text, definition jsonb, hash text)
           ON CONFLICT (server_id, name) DO UPDATE SET definition = EXCLUDED.definition, hash = EXCLUDED.hash,
             approved_at = now(), approved_by = EXCLUDED.approved_by
           WHERE approved_tools.hash IS DISTINCT FROM EXCLUDED.hash`;
}

/**
 * Brings the reviews of one server in line with what it lists now (call inside the refresh's
 * transaction, after the items were written). `auto`: pending reviews are superseded. Otherwise, per listed tool whose
 * hash differs from the approved one: a pending review of exactly that hash (an older pending one
 * is superseded; one the admin rejected is not asked again). Under `hold`, a server without any
 * approved tool gets one pending review of the whole set instead. Under `findings`, a definition
 * without findings is approved at once (audited as {@link AUTO_REVIEWER}). Pending reviews of
 * tools no longer listed, or listed in their approved definition again, are superseded.
 */
export async function reconcileReviews(db: Db, serverId: string, mode: ReviewMode, live: LiveTool[]): Promise<void> {
  if (mode === "auto") {
    // no longer under review: nothing waits for a decision
    await db`UPDATE tool_reviews SET state = 'superseded', decided_at = now() WHERE server_id = ${serverId} AND state = 'pending'`;
    return;
  }
  const approvedRows = await db`SELECT name, hash FROM approved_tools WHERE server_id = ${serverId}`;
  const approved = new Map(approvedRows.map((r) => [String(r.name), String(r.hash)]));
  const pendingRows = await db`SELECT * FROM tool_reviews WHERE server_id = ${serverId} AND state = 'pending'`;
  const pending = pendingRows.map(toReview);
  const supersede = async (ids: number[]) => {
    if (ids.length) await db`UPDATE tool_reviews SET state = 'superseded', decided_at = now() WHERE id IN ${db(ids)}`;
  };

  if (mode === "hold" && approved.size === 0) {
    if (!live.length) return supersede(pending.map((p) => p.id));
    const hash = await setHash(live);
    const current = pending.find((p) => p.scope === "set" && p.hash === hash);
    await supersede(pending.filter((p) => p !== current).map((p) => p.id));
    if (current) return;
    const [rejected] =
      await db`SELECT 1 FROM tool_reviews WHERE server_id = ${serverId} AND scope = 'set' AND hash = ${hash} AND state = 'rejected' LIMIT 1`;
    if (rejected) return;
    const findings = live.flatMap((t) =>
      checkDefinition(t.definition).map((f) => ({ ...f, path: `${t.name}: ${f.path}` })),
    );
    await db`INSERT INTO tool_reviews (server_id, scope, name, change, before, after, hash, findings)
             VALUES (${serverId}, 'set', '', 'initial', NULL, ${json(
               db,
               live.map((t) => t.definition),
             )}, ${hash}, ${json(db, findings)})`;
    return;
  }

  const keep = new Set<number>();
  const autoApprove: LiveTool[] = [];
  for (const t of live) {
    const approvedHash = approved.get(t.name);
    if (approvedHash === t.hash) continue;
    const current = pending.find((p) => p.scope === "tool" && p.name === t.name && p.hash === t.hash);
    if (current) {
      keep.add(current.id);
      continue;
    }
    const [rejected] =
      await db`SELECT 1 FROM tool_reviews WHERE server_id = ${serverId} AND scope = 'tool' AND name = ${t.name} AND hash = ${t.hash} AND state = 'rejected' LIMIT 1`;
    if (rejected) continue;
    const findings = checkDefinition(t.definition);
    if (mode === "findings" && !findings.length) {
      autoApprove.push(t);
      continue;
    }
    await supersede(pending.filter((p) => p.scope === "tool" && p.name === t.name).map((p) => p.id));
    const [before] = approvedHash
      ? await db`SELECT definition FROM approved_tools WHERE server_id = ${serverId} AND name = ${t.name}`
      : [];
    const [row] = await db`INSERT INTO tool_reviews (server_id, scope, name, change, before, after, hash, findings)
             VALUES (${serverId}, 'tool', ${t.name}, ${approvedHash ? "changed" : "added"}, ${before ? json(db, before.definition) : null},
                     ${json(db, t.definition)}, ${t.hash}, ${json(db, findings)}) RETURNING id`;
    keep.add(Number(row!.id));
  }
  await supersede(pending.filter((p) => !keep.has(p.id)).map((p) => p.id));
  if (autoApprove.length) {
    await upsertApproved(db, serverId, autoApprove, AUTO_REVIEWER);
    await insertAdminChange(db, {
      actor: AUTO_REVIEWER,
      action: "review.auto-approve",
      target: `server:${serverId}`,
      detail: {
        tools: autoApprove.map((t) => ({ name: t.name, hash: t.hash })),
        reason: "no poisoning findings (review: findings)",
      },
    });
  }
}

/** Reviews of one server, newest first (optionally in one state). */
export async function listReviews(db: Db, serverId: string, state?: ReviewState, limit = 100): Promise<Review[]> {
  const rows =
    await db`SELECT * FROM tool_reviews WHERE server_id = ${serverId} AND (${state ?? null}::text IS NULL OR state = ${state ?? null})
                        ORDER BY at DESC, id DESC LIMIT ${Math.min(Math.max(limit, 1), 1000)}`;
  return rows.map(toReview);
}

/** Pending reviews of every server, newest first (the UI's overview). */
export async function listPendingReviews(db: Db): Promise<Review[]> {
  const rows = await db`SELECT * FROM tool_reviews WHERE state = 'pending' ORDER BY at DESC, id DESC LIMIT 1000`;
  return rows.map(toReview);
}

export type DecideOutcome =
  | { ok: true; review: Review }
  | { ok: false; reason: "not_found" }
  | { ok: false; reason: "not_pending"; state: ReviewState };

/**
 * Approves or rejects pending review `id` of `serverId` (call inside a transaction). Approving a
 * tool's review pins its definition and hash as listed in the review; approving a set pins every
 * definition in it. Writes the audit row.
 */
export async function decideReview(
  db: Db,
  serverId: string,
  id: number,
  decision: "approve" | "reject",
  actor: string,
): Promise<DecideOutcome> {
  const [row] = await db`SELECT * FROM tool_reviews WHERE id = ${id} AND server_id = ${serverId} FOR UPDATE`;
  if (!row) return { ok: false, reason: "not_found" };
  const review = toReview(row);
  if (review.state !== "pending") return { ok: false, reason: "not_pending", state: review.state };
  const state: ReviewState = decision === "approve" ? "approved" : "rejected";
  const [updated] =
    await db`UPDATE tool_reviews SET state = ${state}, decided_at = now(), decided_by = ${actor} WHERE id = ${id} RETURNING *`;
  let tools: { name: string; hash: string }[] = [];
  if (decision === "approve") {
    const defs = (review.scope === "set" ? (review.after as McpItem[]) : [review.after as McpItem]).filter(
      (d) => d && typeof d.name === "string",
    );
    const live: LiveTool[] = [];
    for (const d of defs) live.push({ name: d.name as string, definition: d, hash: await itemHash(d) });
    await upsertApproved(db, serverId, live, actor);
    tools = live.map((t) => ({ name: t.name, hash: t.hash }));
  }
  await insertAdminChange(db, {
    actor,
    action: `review.${decision}`,
    target: `server:${serverId}`,
    detail: {
      review: id,
      scope: review.scope,
      name: review.name,
      change: review.change,
      hash: review.hash,
      findings: review.findings.length,
      ...(tools.length ? { tools } : {}),
    },
  });
  return { ok: true, review: toReview(updated!) };
}

/** Every server's approved tools and overrides, for the catalog's snapshot. */
export async function loadCuration(
  db: Db,
): Promise<{ approved: Map<string, Map<string, ApprovedTool>>; overrides: Map<string, Map<string, ToolOverride>> }> {
  const [a, o] = await Promise.all([
    db`SELECT server_id, name, definition, hash FROM approved_tools`,
    db`SELECT server_id, tool, name, description, hidden FROM tool_overrides`,
  ]);
  const approved = new Map<string, Map<string, ApprovedTool>>();
  for (const r of a) {
    const id = String(r.server_id);
    let m = approved.get(id);
    if (!m) approved.set(id, (m = new Map()));
    m.set(String(r.name), { definition: r.definition as McpItem, hash: String(r.hash) });
  }
  const overrides = new Map<string, Map<string, ToolOverride>>();
  for (const r of o) {
    const id = String(r.server_id);
    let m = overrides.get(id);
    if (!m) overrides.set(id, (m = new Map()));
    m.set(String(r.tool), toOverride(r));
  }
  return { approved, overrides };
}

function toOverride(r: Record<string, unknown>): ToolOverride {
  return {
    tool: String(r.tool),
    name: (r.name as string | null) ?? null,
    description: (r.description as string | null) ?? null,
    hidden: Boolean(r.hidden),
  };
}

/** One server's overrides, by tool. */
export async function listOverrides(db: Db, serverId: string): Promise<ToolOverride[]> {
  const rows =
    await db`SELECT tool, name, description, hidden FROM tool_overrides WHERE server_id = ${serverId} ORDER BY tool`;
  return rows.map(toOverride);
}

/**
 * Whether `name` is taken on the server by a tool other than `tool`: a tool the catalog lists
 * under that name, or another tool's override to it.
 */
export async function overrideNameTaken(db: Db, serverId: string, name: string, tool: string): Promise<boolean> {
  const [listed] =
    await db`SELECT 1 FROM server_items WHERE server_id = ${serverId} AND kind = 'tool' AND name = ${name} LIMIT 1`;
  const [other] =
    await db`SELECT tool FROM tool_overrides WHERE server_id = ${serverId} AND name = ${name} AND tool <> ${tool}`;
  return Boolean(listed || other);
}

/** One override, or null. */
export async function getOverride(db: Db, serverId: string, tool: string): Promise<ToolOverride | null> {
  const [row] =
    await db`SELECT tool, name, description, hidden FROM tool_overrides WHERE server_id = ${serverId} AND tool = ${tool}`;
  return row ? toOverride(row) : null;
}

/** Creates or replaces an override. */
export async function upsertOverride(db: Db, serverId: string, o: ToolOverride): Promise<void> {
  await db`INSERT INTO tool_overrides (server_id, tool, name, description, hidden) VALUES (${serverId}, ${o.tool}, ${o.name}, ${o.description}, ${o.hidden})
           ON CONFLICT (server_id, tool) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description, hidden = EXCLUDED.hidden, updated_at = now()
           WHERE (tool_overrides.name, tool_overrides.description, tool_overrides.hidden) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.description, EXCLUDED.hidden)`;
}

/** Deletes an override; whether one existed. */
export async function deleteOverride(db: Db, serverId: string, tool: string): Promise<boolean> {
  return (
    (await db`DELETE FROM tool_overrides WHERE server_id = ${serverId} AND tool = ${tool} RETURNING tool`).length > 0
  );
}
