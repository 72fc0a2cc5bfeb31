/**
 * Reviewed definitions and per-tool overrides (migrations 0012, 0016): approved_tools,
 * tool_reviews, tool_overrides.
 *
 * Under `review: "hold"` (or `"findings"`) a server's tools, prompts, resources and resource
 * templates are served in their approved definition only (each kind on its own: `kind`, keyed by
 * name, uri or uriTemplate as in server_items). {@link reconcileReviews} runs in the catalog's refresh transaction after every
 * successful listing and keeps one pending review per tool whose listed definition differs from
 * the approved one (or one for the whole set on the first listing of a server under hold);
 * {@link decideReview} approves or rejects one. Every decision writes an admin_change audit row
 * in the same transaction.
 */
import type postgres from "postgres";
import { sha256Hex } from "../crypto";
import { ITEM_KINDS, itemKey, type ItemKind, type McpItem } from "../catalog.schema";
import { checkDefinition, type Finding } from "../poisoning";
import { insertAdminChange, type Db } from "./audit.repo";
import { itemHash } from "./item-hash";

export type ReviewMode = "auto" | "hold" | "findings";
export type ReviewState = "pending" | "approved" | "rejected" | "superseded";

/** The actor of approvals the gateway makes itself (`review: "findings"`, a definition without findings). */
export const AUTO_REVIEWER = "review:auto";

/** One listed item: a tool, prompt, resource or resource template (`name`: its key within its kind). */
export interface LiveItem {
  kind: ItemKind;
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
  /** What is reviewed: prompt, resource or resource template as well as tool. */
  kind: ItemKind;
  /** set: the first listing of a kind under hold; tool: one tool; item: one prompt, resource or template. */
  scope: "set" | "tool" | "item";
  /** The item's upstream key: a tool's or prompt's name, a resource's uri, a template's uriTemplate ("" for a set). */
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
export function setHash(tools: Pick<LiveItem, "name" | "hash">[]): Promise<string> {
  return sha256Hex(
    JSON.stringify(tools.map((t) => [t.name, t.hash]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0))),
  );
}

function toReview(r: Record<string, unknown>): Review {
  return {
    id: Number(r.id),
    at: new Date(r.at as string),
    server: String(r.server_id),
    kind: ((r.kind as string | undefined) ?? "tool") as ItemKind,
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

async function upsertApproved(db: Db, serverId: string, items: LiveItem[], actor: string): Promise<void> {
  if (!items.length) return;
  await db`INSERT INTO approved_tools (server_id, kind, name, definition, hash, approved_by)
           SELECT ${serverId}, r.kind, r.name, r.definition, r.hash, ${actor}
           FROM jsonb_to_recordset(${json(db, items)}) AS r(kind text, name text, definition jsonb, hash text)
           ON CONFLICT (server_id, kind, name) DO UPDATE SET definition = EXCLUDED.definition, hash = EXCLUDED.hash,
             approved_at = now(), approved_by = EXCLUDED.approved_by
           WHERE approved_tools.hash IS DISTINCT FROM EXCLUDED.hash`;
}

/**
 * Brings the reviews of one server in line with what it lists now (call inside the refresh's
 * transaction, after the items were written). `auto`: pending reviews are superseded. Otherwise,
 * per kind, per listed item whose hash differs from the approved one: a pending review of exactly
 * that hash (an older pending one is superseded; one the admin rejected is not asked again).
 * Under `hold`, a kind without any approved item gets one pending review of its whole set
 * instead. Under `findings`, a definition without findings is approved at once (audited as
 * {@link AUTO_REVIEWER}). Pending reviews of items no longer listed, or listed in their approved
 * definition again, are superseded.
 */
export async function reconcileReviews(db: Db, serverId: string, mode: ReviewMode, live: LiveItem[]): Promise<void> {
  if (mode === "auto") {
    // no longer under review: nothing waits for a decision
    await db`UPDATE tool_reviews SET state = 'superseded', decided_at = now() WHERE server_id = ${serverId} AND state = 'pending'`;
    return;
  }
  const approvedRows = await db`SELECT kind, name, hash FROM approved_tools WHERE server_id = ${serverId}`;
  const pendingRows = await db`SELECT * FROM tool_reviews WHERE server_id = ${serverId} AND state = 'pending'`;
  const pendingAll = pendingRows.map(toReview);
  const supersede = async (ids: number[]) => {
    if (ids.length) await db`UPDATE tool_reviews SET state = 'superseded', decided_at = now() WHERE id IN ${db(ids)}`;
  };
  const autoApprove: LiveItem[] = [];
  for (const kind of ITEM_KINDS) {
    const approved = new Map(
      approvedRows.filter((r) => String(r.kind) === kind).map((r) => [String(r.name), String(r.hash)]),
    );
    const pending = pendingAll.filter((p) => p.kind === kind);
    const listed = live.filter((t) => t.kind === kind);
    if (mode === "hold" && approved.size === 0) await reconcileSet(db, serverId, kind, listed, pending, supersede);
    else autoApprove.push(...(await reconcileItems(db, serverId, mode, kind, listed, approved, pending, supersede)));
  }
  if (autoApprove.length) {
    await upsertApproved(db, serverId, autoApprove, AUTO_REVIEWER);
    const tools = autoApprove.filter((t) => t.kind === "tool").map((t) => ({ name: t.name, hash: t.hash }));
    const items = autoApprove
      .filter((t) => t.kind !== "tool")
      .map((t) => ({ kind: t.kind, name: t.name, hash: t.hash }));
    await insertAdminChange(db, {
      actor: AUTO_REVIEWER,
      action: "review.auto-approve",
      target: `server:${serverId}`,
      detail: {
        ...(tools.length ? { tools } : {}),
        ...(items.length ? { items } : {}),
        reason: "no poisoning findings (review: findings)",
      },
    });
  }
}

/** Under hold, a kind with nothing approved: one pending review of everything listed of it. */
async function reconcileSet(
  db: Db,
  serverId: string,
  kind: ItemKind,
  listed: LiveItem[],
  pending: Review[],
  supersede: (ids: number[]) => Promise<void>,
): Promise<void> {
  if (!listed.length) return supersede(pending.map((p) => p.id));
  const hash = await setHash(listed);
  const current = pending.find((p) => p.scope === "set" && p.hash === hash);
  await supersede(pending.filter((p) => p !== current).map((p) => p.id));
  if (current) return;
  const [rejected] =
    await db`SELECT 1 FROM tool_reviews WHERE server_id = ${serverId} AND kind = ${kind} AND scope = 'set' AND hash = ${hash} AND state = 'rejected' LIMIT 1`;
  if (rejected) return;
  const findings = listed.flatMap((t) =>
    checkDefinition(t.definition).map((f) => ({ ...f, path: `${t.name}: ${f.path}` })),
  );
  await db`INSERT INTO tool_reviews (server_id, kind, scope, name, change, before, after, hash, findings)
           VALUES (${serverId}, ${kind}, 'set', '', 'initial', NULL, ${json(
             db,
             listed.map((t) => t.definition),
           )}, ${hash}, ${json(db, findings)})`;
}

/** One pending review per listed item of `kind` that differs from its approved definition; those `findings` mode approves at once. */
async function reconcileItems(
  db: Db,
  serverId: string,
  mode: ReviewMode,
  kind: ItemKind,
  listed: LiveItem[],
  approved: Map<string, string>,
  pending: Review[],
  supersede: (ids: number[]) => Promise<void>,
): Promise<LiveItem[]> {
  const scope = kind === "tool" ? "tool" : "item";
  const keep = new Set<number>();
  const autoApprove: LiveItem[] = [];
  for (const t of listed) {
    const approvedHash = approved.get(t.name);
    if (approvedHash === t.hash) continue;
    const current = pending.find((p) => p.scope === scope && p.name === t.name && p.hash === t.hash);
    if (current) {
      keep.add(current.id);
      continue;
    }
    const [rejected] =
      await db`SELECT 1 FROM tool_reviews WHERE server_id = ${serverId} AND kind = ${kind} AND scope = ${scope} AND name = ${t.name} AND hash = ${t.hash} AND state = 'rejected' LIMIT 1`;
    if (rejected) continue;
    const findings = checkDefinition(t.definition);
    if (mode === "findings" && !findings.length) {
      autoApprove.push(t);
      continue;
    }
    await supersede(pending.filter((p) => p.scope === scope && p.name === t.name).map((p) => p.id));
    const [before] = approvedHash
      ? await db`SELECT definition FROM approved_tools WHERE server_id = ${serverId} AND kind = ${kind} AND name = ${t.name}`
      : [];
    const [row] =
      await db`INSERT INTO tool_reviews (server_id, kind, scope, name, change, before, after, hash, findings)
             VALUES (${serverId}, ${kind}, ${scope}, ${t.name}, ${approvedHash ? "changed" : "added"}, ${before ? json(db, before.definition) : null},
                     ${json(db, t.definition)}, ${t.hash}, ${json(db, findings)}) RETURNING id`;
    keep.add(Number(row!.id));
  }
  await supersede(pending.filter((p) => !keep.has(p.id)).map((p) => p.id));
  return autoApprove;
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
  let pinned: { name: string; hash: string }[] = [];
  if (decision === "approve") {
    const defs = review.scope === "set" ? (review.after as McpItem[]) : [review.after as McpItem];
    const live: LiveItem[] = [];
    for (const d of defs) {
      const name = d && typeof d === "object" ? itemKey(review.kind, d) : undefined;
      if (name !== undefined) live.push({ kind: review.kind, name, definition: d, hash: await itemHash(d) });
    }
    await upsertApproved(db, serverId, live, actor);
    pinned = live.map((t) => ({ name: t.name, hash: t.hash }));
  }
  await insertAdminChange(db, {
    actor,
    action: `review.${decision}`,
    target: `server:${serverId}`,
    detail: {
      review: id,
      ...(review.kind === "tool" ? {} : { kind: review.kind }),
      scope: review.scope,
      name: review.name,
      change: review.change,
      hash: review.hash,
      findings: review.findings.length,
      ...(pinned.length ? { [review.kind === "tool" ? "tools" : "items"]: pinned } : {}),
    },
  });
  return { ok: true, review: toReview(updated!) };
}

/** The key of an item of another kind than tool in {@link Curation.approvedItems} and the snapshot's item hashes. */
export const kindKey = (kind: ItemKind, name: string) => `${kind}\u0000${name}`;

export interface Curation {
  /** Per server: approved tool definitions, by upstream name. */
  approved: Map<string, Map<string, ApprovedTool>>;
  /** Per server: approved prompts, resources and templates, by {@link kindKey}. */
  approvedItems: Map<string, Map<string, ApprovedTool>>;
  /** Per server: tool overrides, by upstream name. */
  overrides: Map<string, Map<string, ToolOverride>>;
}

/** Every server's approved definitions and overrides, for the catalog's snapshot. */
export async function loadCuration(db: Db): Promise<Curation> {
  const [a, o] = await Promise.all([
    db`SELECT server_id, kind, name, definition, hash FROM approved_tools`,
    db`SELECT server_id, tool, name, description, hidden FROM tool_overrides`,
  ]);
  const approved = new Map<string, Map<string, ApprovedTool>>();
  const approvedItems = new Map<string, Map<string, ApprovedTool>>();
  for (const r of a) {
    const id = String(r.server_id);
    const tool = String(r.kind) === "tool";
    const byServer = tool ? approved : approvedItems;
    let m = byServer.get(id);
    if (!m) byServer.set(id, (m = new Map()));
    m.set(tool ? String(r.name) : kindKey(r.kind as ItemKind, String(r.name)), {
      definition: r.definition as McpItem,
      hash: String(r.hash),
    });
  }
  const overrides = new Map<string, Map<string, ToolOverride>>();
  for (const r of o) {
    const id = String(r.server_id);
    let m = overrides.get(id);
    if (!m) overrides.set(id, (m = new Map()));
    m.set(String(r.tool), toOverride(r));
  }
  return { approved, approvedItems, overrides };
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
