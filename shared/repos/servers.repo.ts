/**
 * Upstream servers. Their `headers` are secrets injected upstream, stored sealed (shared/secrets.ts,
 * one sealed value per header, for the context {@link headerContext}): this module returns only
 * the header names (`headerNames`), never the values; {@link openServerHeaders} opens them for the
 * catalog worker, the one reader. A value that is not sealed is a legacy plaintext value (a row
 * written before encryption, or by hand): it is used as is and sealed at the next start
 * (shared/repos/secrets.repo.ts).
 */
import {
  clientSecretContext,
  publicCredentials,
  StoredCredentials,
  type CredentialsInput,
  type ServerAccess,
} from "../credentials";
import { isSealed, seal, SecretsError, UnknownKeyError, unseal, type KeyRing } from "../secrets";
import type { Db } from "./audit.repo";

export interface Server {
  id: string;
  tenant: string;
  url: string;
  transport: "streamable-http" | "sse";
  enabled: boolean;
  description: string;
  /** Names of the stored secret headers; their values are never returned. */
  headerNames: string[];
  /** Credential mode and settings without the OAuth client secret (shared/credentials.ts#publicCredentials). */
  credentials: Record<string, unknown>;
  /** Reviewed definitions: auto, hold, findings (migration 0012). */
  review: "auto" | "hold" | "findings";
  createdAt: Date;
  updatedAt: Date;
}

export interface ServerInput {
  tenant: string;
  url: string;
  transport: "streamable-http" | "sse";
  enabled: boolean;
  description: string;
  /** New secret headers, already sealed ({@link headersToStore}); undefined keeps the stored ones. */
  headers?: Record<string, string>;
  /** New credential settings, client secret already sealed ({@link credentialsToStore}); undefined keeps the stored ones. */
  credentials?: StoredCredentials;
  /** Review mode; undefined keeps the stored one (a new server: auto). */
  review?: "auto" | "hold" | "findings";
}

/** The sealing context of one header value of one server (AES-GCM additional data). */
export function headerContext(serverId: string, header: string): string {
  return `servers.headers:${serverId}:${header}`;
}

/** Seals every value of `headers` for server `serverId` under the ring's current key. */
export async function sealServerHeaders(
  ring: KeyRing,
  serverId: string,
  headers: Record<string, string>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    out[name] = await seal(ring, value, headerContext(serverId, name));
  return out;
}

/**
 * The plaintext of a server's stored headers: sealed values opened, legacy plaintext values as
 * they are. Throws {@link SecretsError} (naming the server, the header and the key id, never a
 * value) when one does not open.
 */
export async function openServerHeaders(
  ring: KeyRing,
  serverId: string,
  stored: Record<string, string>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(stored)) {
    if (!isSealed(value)) {
      out[name] = value;
      continue;
    }
    try {
      out[name] = await unseal(ring, value, headerContext(serverId, name));
    } catch (err) {
      const Kind = err instanceof UnknownKeyError ? UnknownKeyError : SecretsError;
      throw new Kind(`server ${serverId} header ${name}: ${(err as Error).message}`);
    }
  }
  return out;
}

function sameHeaders(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && b[k] === a[k]);
}

/**
 * What to write for new `headers` of server `id`: `store` null keeps the stored value (none given,
 * or the same as stored - compared opened, since each sealing differs), else the sealed map to
 * write. `changed` tells the audit whether the secrets changed, without saying what they are.
 * A stored value that no longer opens (its key is gone) counts as changed, so a PUT repairs it.
 * @param ring null where no SECRETS_KEY is configured: then only `{}` can be stored
 */
export async function headersToStore(
  db: Db,
  ring: KeyRing | null,
  id: string,
  headers: Record<string, string> | undefined,
): Promise<{ store: Record<string, string> | null; changed: boolean }> {
  if (headers === undefined) return { store: null, changed: false };
  const [row] = await db`SELECT headers FROM servers WHERE id = ${id}`;
  if (row) {
    const stored = row.headers as Record<string, string>;
    const opened =
      Object.keys(stored).length === 0 ? {} : ring ? await openServerHeaders(ring, id, stored).catch(() => null) : null;
    if (opened && sameHeaders(opened, headers)) return { store: null, changed: false };
  }
  if (Object.keys(headers).length === 0) return { store: {}, changed: true };
  if (!ring) throw new SecretsError("SECRETS_KEY is not set: secret headers cannot be stored");
  return { store: await sealServerHeaders(ring, id, headers), changed: true };
}

function toServer(r: Record<string, unknown>): Server {
  return {
    id: String(r.id),
    tenant: String(r.tenant_id),
    url: String(r.url),
    transport: r.transport as Server["transport"],
    enabled: Boolean(r.enabled),
    description: String(r.description ?? ""),
    headerNames: ((r.header_names as string[] | null) ?? []).slice().sort(),
    credentials: publicCredentials(StoredCredentials.safeParse(r.credentials).data),
    review: (r.review as Server["review"] | undefined) ?? "auto",
    createdAt: new Date(r.created_at as string),
    updatedAt: new Date(r.updated_at as string),
  };
}

/** Every server (optionally of one tenant), by id, without header values. */
export async function listServers(db: Db, tenant?: string): Promise<Server[]> {
  const rows = await db`
    SELECT id, tenant_id, url, transport, enabled, description, credentials, review, created_at, updated_at,
           COALESCE((SELECT jsonb_agg(k) FROM jsonb_object_keys(headers) k), '[]'::jsonb) AS header_names
    FROM servers WHERE (${tenant ?? null}::text IS NULL OR tenant_id = ${tenant ?? null}) ORDER BY id`;
  return rows.map(toServer);
}

/** One server without header values, or null. */
/** Every server's tenant, state and review mode, by id (no headers, no credentials). */
export async function listServerStates(
  db: Db,
): Promise<{ id: string; tenant: string; enabled: boolean; review: string }[]> {
  const rows = await db`SELECT id, tenant_id, enabled, review FROM servers ORDER BY id`;
  return rows.map((r) => ({
    id: String(r.id),
    tenant: String(r.tenant_id),
    enabled: Boolean(r.enabled),
    review: String(r.review),
  }));
}

export async function getServer(db: Db, id: string, lock = false): Promise<Server | null> {
  const rows = lock
    ? await db`SELECT id, tenant_id, url, transport, enabled, description, credentials, review, created_at, updated_at,
                 COALESCE((SELECT jsonb_agg(k) FROM jsonb_object_keys(headers) k), '[]'::jsonb) AS header_names
               FROM servers WHERE id = ${id} FOR UPDATE`
    : await db`SELECT id, tenant_id, url, transport, enabled, description, credentials, review, created_at, updated_at,
                 COALESCE((SELECT jsonb_agg(k) FROM jsonb_object_keys(headers) k), '[]'::jsonb) AS header_names
               FROM servers WHERE id = ${id}`;
  return rows[0] ? toServer(rows[0]) : null;
}

/** Creates or replaces a server; `headers` undefined keeps the stored secret headers. */
export async function upsertServer(db: Db, id: string, s: ServerInput): Promise<void> {
  const headers = s.headers === undefined ? null : db.json(s.headers);
  const creds = s.credentials === undefined ? null : db.json(s.credentials as never);
  const review = s.review ?? null;
  await db`
    INSERT INTO servers (id, tenant_id, url, transport, headers, credentials, enabled, description, review)
    VALUES (${id}, ${s.tenant}, ${s.url}, ${s.transport}, COALESCE(${headers}::jsonb, '{}'::jsonb), COALESCE(${creds}::jsonb, '{"mode": "shared"}'::jsonb), ${s.enabled}, ${s.description}, COALESCE(${review}::text, 'auto'))
    ON CONFLICT (id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, url = EXCLUDED.url, transport = EXCLUDED.transport,
      headers = COALESCE(${headers}::jsonb, servers.headers), credentials = COALESCE(${creds}::jsonb, servers.credentials),
      enabled = EXCLUDED.enabled, description = EXCLUDED.description, review = COALESCE(${review}::text, servers.review), updated_at = now()
    WHERE (servers.tenant_id, servers.url, servers.transport, servers.enabled, servers.description, servers.headers, servers.credentials, servers.review)
      IS DISTINCT FROM (EXCLUDED.tenant_id, EXCLUDED.url, EXCLUDED.transport, EXCLUDED.enabled, EXCLUDED.description, COALESCE(${headers}::jsonb, servers.headers),
                        COALESCE(${creds}::jsonb, servers.credentials), COALESCE(${review}::text, servers.review))`;
}

/**
 * What to store for new credential settings of server `id`: undefined keeps the stored ones. A
 * client secret is sealed; an omitted one keeps the stored secret while the client id stays.
 * `previous`: the server's address and settings as stored before (null: a new server), which
 * decide with the new ones whether users' connections still fit (credentials.ts connectionsFit)
 * and which revoke those that do not.
 */
export async function credentialsToStore(
  db: Db,
  ring: KeyRing | null,
  id: string,
  input: CredentialsInput | undefined,
): Promise<{ store?: StoredCredentials; previous: ServerAccess | null }> {
  const [row] = await db`SELECT url, credentials FROM servers WHERE id = ${id}`;
  const previous: ServerAccess | null = row
    ? { url: String(row.url), credentials: StoredCredentials.safeParse(row.credentials).data }
    : null;
  if (input === undefined) return { previous };
  const before = previous?.credentials;
  if (input.mode === "shared") return { store: { mode: "shared" }, previous };
  const store: StoredCredentials = { mode: input.mode, header: input.header, prefix: input.prefix };
  if (input.mode === "per-user-oauth" && input.oauth) {
    const { clientSecret, ...rest } = input.oauth;
    let sealed: string | undefined;
    if (clientSecret) {
      if (!ring) throw new SecretsError("SECRETS_KEY is not set: an OAuth client secret cannot be stored");
      sealed = await seal(ring, clientSecret, clientSecretContext(id));
    } else if (before?.oauth?.clientId === rest.clientId) sealed = before.oauth.clientSecret;
    store.oauth = { ...rest, ...(sealed ? { clientSecret: sealed } : {}) };
  }
  return { store, previous };
}

/** Opens the OAuth client secret of stored settings (null: a public client). */
export async function openClientSecret(
  ring: KeyRing,
  id: string,
  c: StoredCredentials | undefined,
): Promise<string | null> {
  const v = c?.oauth?.clientSecret;
  if (!v) return null;
  return isSealed(v) ? unseal(ring, v, clientSecretContext(id)) : v;
}

/** Deletes a server (its rules, snapshots and status go with it). */
export async function deleteServer(db: Db, id: string): Promise<boolean> {
  const rows = await db`DELETE FROM servers WHERE id = ${id} RETURNING id`;
  return rows.length > 0;
}

export interface ServerHealth {
  server: string;
  tenant: string;
  enabled: boolean;
  /** null: never refreshed by the catalog. */
  ok: boolean | null;
  error: string | null;
  toolCount: number;
  latencyMs: number | null;
  protocolVersion: string | null;
  serverInfo: unknown;
  refreshedAt: Date | null;
  lastOkAt: Date | null;
}

/** Every server with its last known status (server_status, filled by the catalog worker). */
export async function listServerHealth(db: Db): Promise<ServerHealth[]> {
  const rows = await db`
    SELECT s.id, s.tenant_id, s.enabled, st.ok, st.error, st.tool_count, st.latency_ms, st.protocol_version,
           st.server_info, st.refreshed_at, st.last_ok_at
    FROM servers s LEFT JOIN server_status st ON st.server_id = s.id ORDER BY s.id`;
  return rows.map((r) => ({
    server: String(r.id),
    tenant: String(r.tenant_id),
    enabled: Boolean(r.enabled),
    ok: r.ok == null ? null : Boolean(r.ok),
    error: (r.error as string | null) ?? null,
    toolCount: Number(r.tool_count ?? 0),
    latencyMs: r.latency_ms == null ? null : Number(r.latency_ms),
    protocolVersion: (r.protocol_version as string | null) ?? null,
    serverInfo: r.server_info ?? null,
    refreshedAt: r.refreshed_at ? new Date(r.refreshed_at as string) : null,
    lastOkAt: r.last_ok_at ? new Date(r.last_ok_at as string) : null,
  }));
}

/** Tool names per server from the catalog's snapshot (server_items). */
export async function toolNamesByServer(db: Db, servers?: string[]): Promise<Map<string, string[]>> {
  const rows = servers
    ? await db`SELECT server_id, name FROM server_items WHERE kind = 'tool' AND server_id IN (SELECT jsonb_array_elements_text(${db.json(servers)})) ORDER BY server_id, name`
    : await db`SELECT server_id, name FROM server_items WHERE kind = 'tool' ORDER BY server_id, name`;
  const out = new Map<string, string[]>();
  for (const r of rows) {
    const list = out.get(String(r.server_id)) ?? [];
    list.push(String(r.name));
    out.set(String(r.server_id), list);
  }
  return out;
}

export interface ItemChange {
  id: number;
  at: Date;
  server: string;
  kind: string;
  name: string;
  change: "added" | "removed" | "changed";
  before: unknown;
  after: unknown;
}

/** The history of upstream item changes (item_changes), newest first. */
export async function listItemChanges(
  db: Db,
  f: { server?: string; since?: Date; limit?: number } = {},
): Promise<ItemChange[]> {
  const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
  const rows = await db`
    SELECT id, at, server_id, kind, name, change, before, after FROM item_changes
    WHERE (${f.server ?? null}::text IS NULL OR server_id = ${f.server ?? null})
      AND (${f.since ?? null}::timestamptz IS NULL OR at >= ${f.since ?? null})
    ORDER BY at DESC, id DESC LIMIT ${limit}`;
  return rows.map((r) => ({
    id: Number(r.id),
    at: new Date(r.at as string),
    server: String(r.server_id),
    kind: String(r.kind),
    name: String(r.name),
    change: r.change as ItemChange["change"],
    before: r.before ?? null,
    after: r.after ?? null,
  }));
}
