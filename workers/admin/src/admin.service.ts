/**
 * Every admin change, shared by the REST API and the UI: validate references, apply the change
 * and write its audit_log row (kind 'admin_change', before/after without secrets) in ONE
 * transaction. A change that fails writes nothing. A PUT that changes nothing writes no audit row.
 * The catalog_state triggers bump the version, so MCP sees the change within its TTL.
 */
import type { z } from "zod";
import type { Sql, TxSql } from "../../../shared/db";
import { generateApiKey, insertApiKey, listApiKeys, revokeApiKey } from "../../../shared/repos/apikeys.repo";
import { insertAdminChange, type Db } from "../../../shared/repos/audit.repo";
import { deleteTenant, getTenant, upsertTenant, type Tenant } from "../../../shared/repos/tenants.repo";
import { dropServerConnections } from "../../../shared/repos/connections.repo";
import { connectionsFit } from "../../../shared/credentials";
import type { DroppedConnections } from "../../../shared/oauth.revoke";
import {
  credentialsToStore,
  deleteServer,
  getServer,
  headersToStore,
  upsertServer,
  type Server,
} from "../../../shared/repos/servers.repo";
import {
  deleteGroup,
  getGroup,
  missingGroups,
  missingServers,
  missingTenants,
  upsertGroup,
  type Group,
} from "../../../shared/repos/groups.repo";
import { deleteUser, getAdminUser, upsertUser, type AdminUser } from "../../../shared/repos/admin-users.repo";
import {
  decideReview,
  deleteOverride,
  getOverride,
  overrideNameTaken,
  upsertOverride,
  type Review,
  type ToolOverride,
} from "../../../shared/repos/review.repo";
import { ADMIN_GROUP, type ApiKeyRow } from "../../../shared/schemas";
import type { KeyRing } from "../../../shared/secrets";
import {
  deleteVirtualServer,
  getVirtualServer,
  replaceVirtualServer,
  virtualExists,
  type VirtualServer,
} from "../../../shared/repos/virtual.repo";
import type {
  GroupBody,
  KeyBody,
  OverrideBody,
  ServerBody,
  TenantBody,
  UserBody,
  VirtualServerBody,
} from "./api.schema";
import { ApiError, fromPostgres } from "./errors";

export interface Saved<T> {
  /** true when the PUT created the item (201), false when it replaced one (200). */
  created: boolean;
  item: T;
}

type Snapshot = Record<string, unknown> | null;

/** Runs `fn` in a transaction and writes the audit row when before and after differ. */
async function change<T>(
  sql: Sql,
  actor: string,
  target: string,
  fn: (
    tx: TxSql,
  ) => Promise<{ action: string; before: Snapshot; after: Snapshot; result: T; extra?: Record<string, unknown> }>,
): Promise<T> {
  try {
    return (await sql.begin(async (tx) => {
      const r = await fn(tx);
      const changed =
        JSON.stringify(r.before) !== JSON.stringify(r.after) ||
        r.extra?.headersChanged === true ||
        r.action.startsWith("key.");
      if (changed)
        await insertAdminChange(tx, {
          actor,
          action: r.action,
          target,
          detail: { before: r.before, after: r.after, ...r.extra },
        });
      return r.result;
    })) as T;
  } catch (err) {
    throw fromPostgres(err) ?? err;
  }
}

function tenantSnap(t: Tenant | null): Snapshot {
  return t && { name: t.name };
}
function serverSnap(s: Server | null): Snapshot {
  return (
    s && {
      tenant: s.tenant,
      url: s.url,
      transport: s.transport,
      enabled: s.enabled,
      description: s.description,
      headerNames: s.headerNames,
      credentials: s.credentials,
      review: s.review,
    }
  );
}
function groupSnap(g: Group | null): Snapshot {
  return g && { description: g.description, tenants: g.tenants, tools: g.tools };
}
function userSnap(u: AdminUser | null): Snapshot {
  return u && { name: u.name, admin: u.admin, groups: u.groups, idpGroups: u.idpGroups };
}

const uniq = <T>(xs: T[]) => [...new Set(xs)];

/** Creates or replaces tenant `id`. */
export async function putTenant(
  sql: Sql,
  actor: string,
  id: string,
  body: z.infer<typeof TenantBody>,
): Promise<Saved<Tenant>> {
  return change(sql, actor, `tenant:${id}`, async (tx) => {
    const before = await getTenant(tx, id, true);
    await upsertTenant(tx, id, body.name);
    const after = (await getTenant(tx, id))!;
    return {
      action: before ? "tenant.update" : "tenant.create",
      before: tenantSnap(before),
      after: tenantSnap(after),
      result: { created: !before, item: after },
    };
  });
}

/** Deletes tenant `id`: 404 when unknown, 409 while it has servers. */
export async function removeTenant(sql: Sql, actor: string, id: string): Promise<void> {
  await change(sql, actor, `tenant:${id}`, async (tx) => {
    const before = await getTenant(tx, id, true);
    if (!before) throw new ApiError(404, "not_found", `no tenant ${id}`);
    if (before.servers.length)
      throw new ApiError(
        409,
        "conflict",
        `tenant ${id} still has servers (${before.servers.join(", ")}); delete or move them first`,
      );
    await deleteTenant(tx, id);
    return { action: "tenant.delete", before: tenantSnap(before), after: null, result: undefined };
  });
}

/**
 * Creates or replaces server `id`; 400 naming `tenant` when that tenant does not exist. New
 * `headers` are sealed with `ring` (SECRETS_KEY) before they are stored; the same headers again
 * leave the stored ones (and the server's version) alone. Omitted headers are kept. Users'
 * connections that no longer fit the server's address or credential settings are deleted in
 * the same transaction and returned as `dropped`, for the caller to have them revoked.
 */
export async function putServer(
  sql: Sql,
  actor: string,
  id: string,
  body: z.infer<typeof ServerBody>,
  ring: KeyRing,
): Promise<Saved<Server> & { dropped: DroppedConnections | null }> {
  return change(sql, actor, `server:${id}`, async (tx) => {
    if ((await missingTenants(tx, [body.tenant])).length)
      throw new ApiError(400, "invalid_request", `tenant: no tenant ${body.tenant}`, "tenant");
    if (await virtualExists(tx, id))
      throw new ApiError(409, "conflict", `a virtual server has the id ${id}: a server needs an id of its own`);
    const before = await getServer(tx, id, true);
    const headers = await headersToStore(tx, ring, id, body.headers);
    const headersChanged = headers.changed;
    const creds = await credentialsToStore(tx, ring, id, body.credentials);
    await upsertServer(tx, id, { ...body, headers: headers.store ?? undefined, credentials: creds.store });
    // tokens obtained for another address, mode or client do not fit the new settings: they go
    // with this change (users connect again) and are revoked once it is committed
    const { previous } = creds;
    let dropped: DroppedConnections | null = null;
    if (previous && !connectionsFit(previous, { url: body.url, credentials: creds.store ?? previous.credentials })) {
      const connections = await dropServerConnections(tx, id, "server address or credentials changed");
      if (connections.length) dropped = { server: { id, ...previous }, connections };
    }
    const after = (await getServer(tx, id))!;
    return {
      action: before ? "server.update" : "server.create",
      before: serverSnap(before),
      after: serverSnap(after),
      extra: { headersChanged },
      result: { created: !before, item: after, dropped },
    };
  });
}

/** Deletes server `id` (404 when unknown). */
export async function removeServer(sql: Sql, actor: string, id: string): Promise<void> {
  await change(sql, actor, `server:${id}`, async (tx) => {
    const before = await getServer(tx, id, true);
    if (!before) throw new ApiError(404, "not_found", `no server ${id}`);
    await deleteServer(tx, id);
    return { action: "server.delete", before: serverSnap(before), after: null, result: undefined };
  });
}

/** Creates or replaces group `name` with exactly these tenants and tool rules (unknown tenants/servers: 400). */
export async function putGroup(
  sql: Sql,
  actor: string,
  name: string,
  body: z.infer<typeof GroupBody>,
): Promise<Saved<Group>> {
  const tenants = uniq(body.tenants).sort();
  const tools = Object.fromEntries(
    Object.entries(body.tools)
      .map(([s, r]) => [s, { allow: uniq(r.allow).sort(), deny: uniq(r.deny).sort() }] as const)
      .filter(([, r]) => r.allow.length + r.deny.length > 0)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  return change(sql, actor, `group:${name}`, async (tx) => {
    const badTenants = await missingTenants(tx, tenants);
    if (badTenants.length)
      throw new ApiError(400, "invalid_request", `tenants: no tenant ${badTenants.join(", ")}`, "tenants");
    const badServers = await missingServers(tx, Object.keys(tools));
    if (badServers.length)
      throw new ApiError(
        400,
        "invalid_request",
        `tools.${badServers[0]}: no server ${badServers[0]}`,
        `tools.${badServers[0]}`,
      );
    const before = await getGroup(tx, name, true);
    await upsertGroup(tx, name, { description: body.description, tenants, tools });
    const after = (await getGroup(tx, name))!;
    return {
      action: before ? "group.update" : "group.create",
      before: groupSnap(before),
      after: groupSnap(after),
      result: { created: !before, item: after },
    };
  });
}

/** Deletes group `name` (404 when unknown); its memberships, mappings and rules go with it. */
export async function removeGroup(sql: Sql, actor: string, name: string): Promise<void> {
  await change(sql, actor, `group:${name}`, async (tx) => {
    const before = await getGroup(tx, name, true);
    if (!before) throw new ApiError(404, "not_found", `no group ${name}`);
    await deleteGroup(tx, name);
    return {
      action: "group.delete",
      before: { ...groupSnap(before), members: before.members },
      after: null,
      result: undefined,
    };
  });
}

/** An admin may not take their own admin rights away (nobody could give them back in the UI). */
function guardSelf(actor: string, email: string, stillAdmin: boolean, field: string) {
  if (actor.toLowerCase() === email && !stillAdmin)
    throw new ApiError(400, "invalid_request", `${field}: you cannot remove your own admin rights`, field);
}

/** Creates or replaces user `email`: admin flag and admin-managed groups (unknown groups: 400). */
export async function putUser(
  sql: Sql,
  actor: string,
  email: string,
  body: z.infer<typeof UserBody>,
): Promise<Saved<AdminUser>> {
  const groups = uniq(body.groups).sort();
  return change(sql, actor, `user:${email}`, async (tx) => {
    const bad = await missingGroups(tx, groups);
    if (bad.length) throw new ApiError(400, "invalid_request", `groups: no group ${bad.join(", ")}`, "groups");
    const before = await getAdminUser(tx, email, true);
    guardSelf(
      actor,
      email,
      body.admin || groups.includes(ADMIN_GROUP) || Boolean(before?.idpGroups.includes(ADMIN_GROUP)),
      "admin",
    );
    await upsertUser(tx, email, { groups, admin: body.admin, name: body.name });
    const after = (await getAdminUser(tx, email))!;
    return {
      action: before ? "user.update" : "user.create",
      before: userSnap(before),
      after: userSnap(after),
      result: { created: !before, item: after },
    };
  });
}

/** Deletes user `email` and their keys (404 when unknown; never the caller themselves). */
export async function removeUser(sql: Sql, actor: string, email: string): Promise<void> {
  guardSelf(actor, email, false, "email");
  await change(sql, actor, `user:${email}`, async (tx) => {
    const before = await getAdminUser(tx, email, true);
    if (!before) throw new ApiError(404, "not_found", `no user ${email}`);
    await deleteUser(tx, email);
    return { action: "user.delete", before: userSnap(before), after: null, result: undefined };
  });
}

export interface IssuedKey {
  id: string;
  key: string;
  name: string;
  expiresAt: Date | null;
}

// apikeys.repo.ts types its client as Sql; a transaction runs the same tagged templates.
const asSql = (db: Db) => db as unknown as Sql;

/** Issues an API key for `email` (404 when unknown); the result holds the key, shown this once. */
export async function issueKey(
  sql: Sql,
  actor: string,
  email: string,
  body: z.infer<typeof KeyBody>,
): Promise<IssuedKey> {
  return change(sql, actor, `user:${email}`, async (tx) => {
    if (!(await getAdminUser(tx, email, true))) throw new ApiError(404, "not_found", `no user ${email}`);
    const k = await generateApiKey();
    const expiresAt = body.expiresInDays ? new Date(Date.now() + body.expiresInDays * 86_400_000) : null;
    const row = await insertApiKey(asSql(tx), email, body.name, k, expiresAt);
    return {
      action: "key.issue",
      before: null,
      after: { id: row.id, name: row.name, prefix: row.prefix, expiresAt: row.expires_at },
      result: { id: row.id, key: k.key, name: row.name, expiresAt: row.expires_at },
    };
  });
}

/** Revokes key `id` of `email` (404 when there is no such live key). */
export async function revokeKey(sql: Sql, actor: string, email: string, id: string): Promise<void> {
  await change(sql, actor, `user:${email}`, async (tx) => {
    const keys = await listApiKeys(asSql(tx), email);
    const key = keys.find((k) => k.id === id);
    if (!key || key.revoked_at) throw new ApiError(404, "not_found", `no live key ${id} for ${email}`);
    await revokeApiKey(asSql(tx), email, id);
    return { action: "key.revoke", before: { id, name: key.name, prefix: key.prefix }, after: null, result: undefined };
  });
}

/** The API's view of a key row (never the hash). */
export function keyOut(k: ApiKeyRow) {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    createdAt: k.created_at,
    lastUsedAt: k.last_used_at,
    revokedAt: k.revoked_at,
    expiresAt: k.expires_at,
  };
}

// ---- reviewed definitions and overrides (issue 15)

/**
 * Approves or rejects pending review `change` of server `id` (404 when either is unknown, 409
 * when the review was decided or superseded already). The decision and its audit row are one
 * transaction; the approved definitions are served within the catalog's propagation time.
 */
export async function decideServerReview(
  sql: Sql,
  actor: string,
  id: string,
  change: number,
  decision: "approve" | "reject",
): Promise<Review> {
  try {
    return (await sql.begin(async (tx) => {
      if (!(await getServer(tx, id))) throw new ApiError(404, "not_found", `no server ${id}`);
      const r = await decideReview(tx, id, change, decision, actor);
      if (!r.ok && r.reason === "not_found")
        throw new ApiError(404, "not_found", `no change ${change} of server ${id}`);
      if (!r.ok)
        throw new ApiError(
          409,
          "conflict",
          `change ${change} is ${r.state}, not pending: only a pending change can be approved or rejected`,
        );
      return r.review;
    })) as Review;
  } catch (err) {
    throw fromPostgres(err) ?? err;
  }
}

function overrideSnap(o: ToolOverride | null): Snapshot {
  return o && { name: o.name, description: o.description, hidden: o.hidden };
}

/**
 * Creates or replaces the override of `tool` on server `id`: 404 for an unknown server; 400 when
 * the new name does not fit `<server>__<name>` in 64 characters, or is the name of another tool
 * of the server (as listed, or as another override renames it).
 */
export async function putOverride(
  sql: Sql,
  actor: string,
  id: string,
  tool: string,
  body: z.infer<typeof OverrideBody>,
): Promise<Saved<ToolOverride>> {
  const name = body.name && body.name !== tool ? body.name : null;
  if (name && `${id}__${name}`.length > 64)
    throw new ApiError(
      400,
      "invalid_request",
      `name: ${id}__${name} is longer than 64 characters (the name on /mcp)`,
      "name",
    );
  return change(sql, actor, `server:${id}`, async (tx) => {
    if (!(await getServer(tx, id, true))) throw new ApiError(404, "not_found", `no server ${id}`);
    if (name) {
      if (await overrideNameTaken(tx, id, name, tool))
        throw new ApiError(
          400,
          "invalid_request",
          `name: ${name} is already the name of another tool of server ${id}`,
          "name",
        );
    }
    const before = await getOverride(tx, id, tool);
    const o: ToolOverride = { tool, name, description: body.description ?? null, hidden: body.hidden };
    await upsertOverride(tx, id, o);
    return {
      action: before ? "override.update" : "override.create",
      before: overrideSnap(before),
      after: overrideSnap(o),
      extra: { tool },
      result: { created: !before, item: o },
    };
  });
}

/** Deletes the override of `tool` on server `id` (404 when there is none). */
export async function removeOverride(sql: Sql, actor: string, id: string, tool: string): Promise<void> {
  await change(sql, actor, `server:${id}`, async (tx) => {
    const before = await getOverride(tx, id, tool);
    if (!before) throw new ApiError(404, "not_found", `no override of tool ${tool} on server ${id}`);
    await deleteOverride(tx, id, tool);
    return { action: "override.delete", before: overrideSnap(before), after: null, extra: { tool }, result: undefined };
  });
}

// ---- virtual servers (issue 15)

function virtualSnap(v: VirtualServer | null): Snapshot {
  return v && { description: v.description, groups: v.groups, tools: v.tools };
}

/**
 * Creates or replaces virtual server `id` with exactly these groups and tools: 409 when a server
 * has this id; 400 naming the field for an unknown group or server, a tool listed twice, or two
 * tools with one name on the endpoint (`name`, else the tool's own name).
 */
export async function putVirtualServer(
  sql: Sql,
  actor: string,
  id: string,
  body: z.infer<typeof VirtualServerBody>,
): Promise<Saved<VirtualServer>> {
  const groups = uniq(body.groups).sort();
  const seen = new Set<string>();
  const names = new Set<string>();
  body.tools.forEach((t, i) => {
    const key = `${t.server}\u0000${t.tool}`;
    if (seen.has(key))
      throw new ApiError(
        400,
        "invalid_request",
        `tools.${i}: tool ${t.tool} of server ${t.server} is listed twice`,
        `tools.${i}`,
      );
    seen.add(key);
    const name = t.name ?? t.tool;
    if (names.has(name))
      throw new ApiError(
        400,
        "invalid_request",
        `tools.${i}.name: ${name} is already the name of another tool of this virtual server`,
        `tools.${i}.name`,
      );
    names.add(name);
  });
  return change(sql, actor, `virtual:${id}`, async (tx) => {
    if (await getServer(tx, id))
      throw new ApiError(409, "conflict", `a server has the id ${id}: a virtual server needs an id of its own`);
    const missingG = await missingGroups(tx, groups);
    if (missingG.length)
      throw new ApiError(400, "invalid_request", `groups: no group ${missingG.join(", ")}`, "groups");
    const missingS = await missingServers(tx, uniq(body.tools.map((t) => t.server)));
    if (missingS.length) {
      const i = body.tools.findIndex((t) => missingS.includes(t.server));
      throw new ApiError(
        400,
        "invalid_request",
        `tools.${i}.server: no server ${body.tools[i]!.server}`,
        `tools.${i}.server`,
      );
    }
    const before = await getVirtualServer(tx, id);
    const tools = body.tools.map((t) => ({
      server: t.server,
      tool: t.tool,
      name: t.name ?? null,
      description: t.description ?? null,
    }));
    await replaceVirtualServer(tx, id, { description: body.description, groups, tools });
    const after = (await getVirtualServer(tx, id))!;
    return {
      action: before ? "virtual.update" : "virtual.create",
      before: virtualSnap(before),
      after: virtualSnap(after),
      result: { created: !before, item: after },
    };
  });
}

/** Deletes virtual server `id` (404 when unknown). */
export async function removeVirtualServer(sql: Sql, actor: string, id: string): Promise<void> {
  await change(sql, actor, `virtual:${id}`, async (tx) => {
    const before = await getVirtualServer(tx, id);
    if (!before) throw new ApiError(404, "not_found", `no virtual server ${id}`);
    await deleteVirtualServer(tx, id);
    return { action: "virtual.delete", before: virtualSnap(before), after: null, result: undefined };
  });
}
