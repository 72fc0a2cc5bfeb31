/**
 * A user's catalog: the servers their access grants (access.cache), each with its snapshot
 * (snapshot.cache) and only the tools the granting groups' rules allow (`toolAllowed`; admins
 * and `mcp-admin` members see all). Prompts, resources and resource templates are visible
 * whenever the server is: tool rules name tools only.
 *
 * Servers without a snapshot, or changed since theirs, are refreshed inline before answering;
 * old snapshots are served and refreshed in the background.
 *
 * Every answer carries a strong ETag ({@link answerTag}) derived from what it is built from - the
 * access version, the snapshot version, the status rows of its servers (a refresh may record a
 * new status without bumping the version: snapshot.cache#patchStatus) and the time-dependent
 * `status.stale` flags - so a caller revalidating with `If-None-Match` gets a 304 without the
 * catalog filtering or serialising anything.
 */
import { createHash } from "node:crypto";
import type { CatalogServer, CatalogStatus, UpstreamProtocol, UserCatalog } from "../../../shared/catalog.schema";
import { toolAllowed } from "../../../shared/policy";
import type { Access, AccessServer } from "../../../shared/repos/access.repo";
import type { Snapshot, StatusRow } from "../../../shared/repos/catalog.repo";
import type { ServerRow } from "../../../shared/schemas";
import { cachedAccess } from "./access.cache";
import { curatedOthers, curatedTools } from "./curate";
import type { CatalogDb } from "./db";
import type { CatalogEnv } from "./env";
import { listingOf, maxAgeSeconds, refreshInBackground, refreshNeed } from "./refresh";
import { cachedSnapshot, nameConflicts, patchStatus } from "./snapshot.cache";
import { currentVersion, forgetVersion, versionBounds } from "./version.cache";

export interface CatalogContext {
  env: CatalogEnv;
  ctx: ExecutionContext;
  db: CatalogDb;
}

function statusOf(entry: AccessServer, snap: Snapshot, refreshSeconds: number, now: number): CatalogStatus {
  const s = snap.status.get(entry.server.id);
  const items = snap.items.get(entry.server.id);
  const old = !s || now - s.refreshed_at.getTime() > refreshSeconds * 1000;
  return {
    ok: s?.ok ?? false,
    error: s ? s.error : "not refreshed yet",
    refreshedAt: s ? s.refreshed_at.toISOString() : null,
    lastOkAt: s?.last_ok_at ? s.last_ok_at.toISOString() : null,
    stale: !s?.ok || old,
    latencyMs: s?.latency_ms ?? null,
    nameConflicts: nameConflicts(entry.server.id, items),
  };
}

/** The era fields of a server's status (all null before its first successful listing). */
export function protocolOf(s: StatusRow | undefined): UpstreamProtocol {
  return {
    era: s?.era ?? null,
    detectedTransport: s?.transport_detected ?? null,
    protocolVersion: s?.protocol_version ?? null,
    supportedVersions: s?.supported_versions ?? null,
    eraCheckedAt: s?.era_checked_at ? s.era_checked_at.toISOString() : null,
    cacheHints: s?.cache_hints ?? null,
  };
}

const credentialMemo = new WeakMap<ServerRow, CatalogServer["credentials"]>();

/**
 * Whether the server has secret headers to inject, and a version of them: a hash of the stored
 * (sealed) values, so it moves with every change of the headers and says nothing about them.
 * The values themselves are never in a catalog answer: the mcp worker asks for them when it
 * forwards (credentials.routes.ts). Memoised per row object (rows are cached per version).
 */
export function credentialsOf(server: ServerRow): CatalogServer["credentials"] {
  let c = credentialMemo.get(server);
  if (c === undefined) {
    const names = Object.keys(server.headers).sort();
    const mode = server.credentials?.mode ?? "shared";
    const version = () =>
      createHash("sha256")
        .update(JSON.stringify([mode, server.credentials?.header ?? "", ...names.map((n) => [n, server.headers[n]])]))
        .digest("base64url")
        .slice(0, 22);
    c =
      mode !== "shared"
        ? { version: version(), perUser: mode }
        : names.length
          ? {
              version: createHash("sha256")
                .update(JSON.stringify(names.map((n) => [n, server.headers[n]])))
                .digest("base64url")
                .slice(0, 22),
            }
          : null;
    credentialMemo.set(server, c);
  }
  return c;
}

/** One server entry as the user sees it. */
export function serverEntry(
  access: Access,
  entry: AccessServer,
  snap: Snapshot,
  refreshSeconds: number,
  now = Date.now(),
): CatalogServer {
  const { server } = entry;
  const s = snap.status.get(server.id);
  const curated = curatedTools(server, snap, (name) => toolAllowed(access, entry, name));
  return {
    id: server.id,
    tenant: server.tenant_id,
    url: server.url,
    transport: server.transport,
    credentials: credentialsOf(server),
    grants: entry.grants,
    status: statusOf(entry, snap, refreshSeconds, now),
    serverInfo: s?.server_info ?? null,
    capabilities: s?.capabilities ?? null,
    instructions: s?.instructions ?? null,
    ...protocolOf(s),
    review: server.review ?? "auto",
    tools: curated.tools,
    held: curated.held,
    ...(curated.pins.length ? { pins: curated.pins } : {}),
    renamed: curated.renamed,
    ...curatedOthers(server, snap),
  };
}

/**
 * The access and snapshot for `email`, with inline refreshes done for the visible servers that
 * need them (only `only` when given) and background refreshes scheduled for old ones.
 */
export async function loadForUser(
  c: CatalogContext,
  email: string,
  only?: string,
): Promise<{ access: Access; snap: Snapshot }> {
  const bounds = versionBounds(c.env);
  let access = await cachedAccess(c.db, email, bounds, c.ctx);
  let snap = await cachedSnapshot(c.db, await currentVersion(c.db, bounds, c.ctx));
  const visible = access.servers.filter((e) => only === undefined || e.server.id === only);
  const now = Date.now();
  const inline = visible.filter((e) => {
    const need = refreshNeed(e.server, snap.status.get(e.server.id), c.env.CATALOG_REFRESH_SECONDS, now);
    return need === "missing" || need === "changed";
  });
  const old = visible.filter(
    (e) => refreshNeed(e.server, snap.status.get(e.server.id), c.env.CATALOG_REFRESH_SECONDS, now) === "old",
  );
  if (old.length) {
    const due = old.map((e) => ({
      server: e.server,
      maxAgeSeconds: maxAgeSeconds(snap.status.get(e.server.id), c.env.CATALOG_REFRESH_SECONDS),
    }));
    refreshInBackground(c.ctx, c.db, due, { listing: listingOf(c.env), refreshSeconds: c.env.CATALOG_REFRESH_SECONDS });
  }
  if (inline.length) {
    const written = await c.db.refresh(
      inline.map((e) => e.server),
      listingOf(c.env),
    );
    for (const status of written.values()) if (status) patchStatus(status);
    // the refresh moved the version: read it again, with what the refresh wrote
    forgetVersion();
    access = await cachedAccess(c.db, email, bounds, c.ctx);
    snap = await cachedSnapshot(c.db, await currentVersion(c.db, bounds, c.ctx));
  }
  return { access, snap };
}

/** An answer and its entity tag; the body is built only when asked for (not for a 304). */
export interface TaggedAnswer<T> {
  /** A strong ETag, quoted. */
  etag: string;
  body: () => T;
}

/**
 * The entity tag of an answer built from `access` and `snap` for `entries` at `now`: equal tags
 * mean equal answers. Versions cover grants, server rows and items (each change bumps
 * catalog_state.version, and a snapshot is read consistently with its version); the status rows
 * are hashed in because an unchanged refresh updates them without a version bump (patchStatus),
 * and `stale` because it turns true with time alone. Cheap: no item is looked at.
 */
export function answerTag(
  kind: string,
  access: Access,
  snap: Snapshot,
  entries: AccessServer[],
  refreshSeconds: number,
  now: number,
): string {
  const h = createHash("sha256");
  h.update(`${kind}\n${access.email}\n${access.version}\n${snap.version}\n${refreshSeconds}\n`);
  for (const e of entries) {
    const s = snap.status.get(e.server.id);
    const stale = !s?.ok || now - s.refreshed_at.getTime() > refreshSeconds * 1000;
    h.update(
      s
        ? `${e.server.id}\t${s.ok}\t${s.refreshed_at.getTime()}\t${s.last_ok_at?.getTime() ?? ""}\t${s.latency_ms ?? ""}\t${stale}\t${s.error ?? ""}\n`
        : `${e.server.id}\t-\n`,
    );
  }
  return `"${kind}-${h.digest("base64url").slice(0, 27)}"`;
}

/** The user's whole catalog, tagged. */
export async function userCatalogAnswer(c: CatalogContext, email: string): Promise<TaggedAnswer<UserCatalog>> {
  const { access, snap } = await loadForUser(c, email);
  const now = Date.now();
  const refresh = c.env.CATALOG_REFRESH_SECONDS;
  return {
    etag: answerTag("c", access, snap, access.servers, refresh, now),
    body: () => ({
      email: access.email,
      known: access.known,
      isAdmin: access.isAdmin,
      groups: access.groups,
      version: Math.max(access.version, snap.version),
      servers: access.servers.map((e) => serverEntry(access, e, snap, refresh, now)),
    }),
  };
}

/** One server of the user's catalog, tagged, or null when the user may not use it (or it does not exist). */
export async function userServerAnswer(
  c: CatalogContext,
  email: string,
  serverId: string,
): Promise<TaggedAnswer<CatalogServer> | null> {
  const { access, snap } = await loadForUser(c, email, serverId);
  const entry = access.servers.find((e) => e.server.id === serverId);
  if (!entry) return null;
  const now = Date.now();
  const refresh = c.env.CATALOG_REFRESH_SECONDS;
  return {
    etag: answerTag("s", access, snap, [entry], refresh, now),
    body: () => serverEntry(access, entry, snap, refresh, now),
  };
}

/** A virtual server's part of a user's catalog (issue 15): `/mcp/<virtual>`. */
export interface VirtualCatalog {
  virtual: { id: string; description: string };
  /** The real servers the user may use that hold the virtual's tools, each with only those tools, named as the virtual names them. */
  servers: CatalogServer[];
}

/**
 * Virtual server `id` as `email` may use it, tagged, or null when it does not exist or none of
 * the user's groups is granted it (admins: every virtual server). Each of its tools is taken from
 * the real server's entry as this user is served it (grants, tool rules, review, overrides), so
 * a user sees a virtual tool only when they could use the real one; a name taken by an earlier
 * tool of the virtual is not shown twice. `renamed` maps each virtual name back to the upstream
 * name; prompts and resources are not part of a virtual server.
 */
export async function userVirtualAnswer(
  c: CatalogContext,
  email: string,
  id: string,
): Promise<TaggedAnswer<VirtualCatalog> | null> {
  const { access, snap } = await loadForUser(c, email);
  const v = snap.virtuals?.get(id);
  if (!v) return null;
  if (!access.isAdmin && !v.groups.some((g) => access.groups.includes(g))) return null;
  const now = Date.now();
  const refresh = c.env.CATALOG_REFRESH_SECONDS;
  const order = [...new Set(v.tools.map((t) => t.server))];
  const entries = order
    .map((sid) => access.servers.find((e) => e.server.id === sid))
    .filter((e): e is AccessServer => !!e);
  return {
    etag: answerTag(`v-${id}`, access, snap, entries, refresh, now),
    body: () => {
      const used = new Set<string>();
      const servers: CatalogServer[] = [];
      for (const entry of entries) {
        const base = serverEntry(access, entry, snap, refresh, now);
        const back = new Map(base.renamed);
        const byUpstream = new Map(base.tools.map((t) => [back.get(String(t.name)) ?? String(t.name), t]));
        const renamed = new Map<string, string>();
        const tools = [];
        for (const vt of v.tools.filter((x) => x.server === entry.server.id)) {
          const t = byUpstream.get(vt.tool);
          if (!t) continue;
          const name = vt.name ?? String(t.name);
          if (used.has(name)) continue;
          used.add(name);
          if (name !== vt.tool) renamed.set(name, vt.tool);
          tools.push({ ...t, name, ...(vt.description !== null ? { description: vt.description } : {}) });
        }
        servers.push({
          ...base,
          instructions: null,
          tools,
          renamed: [...renamed],
          prompts: [],
          resources: [],
          resourceTemplates: [],
        });
      }
      return { virtual: { id: v.id, description: v.description }, servers };
    },
  };
}
