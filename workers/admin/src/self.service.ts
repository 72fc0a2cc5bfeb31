/**
 * Self-service for every signed-in user (admin or not), behind /admin/me and /admin/api/me: what
 * I can use and why, my API keys, how to connect a client. Always the caller's own data: the
 * email comes from the verified identity assertion, never from the request.
 *
 * - Access is the access explorer's answer (access.explain.ts: shared/repos/access.repo.ts and
 *   shared/policy.ts, the evaluator the catalog filters with) cut down to what the user may use:
 *   hidden servers, hidden tools and ungranted virtual servers are left out, since their names
 *   are other tenants' business.
 * - Keys: issue (shown once), list, revoke, scoped by the caller's email in SQL, so another
 *   user's key id answers 404 exactly like an unknown one. Issuing needs a browser session or an
 *   IdP token: a (possibly leaked) API key cannot mint keys that would outlive its revocation.
 *   At most {@link MAX_LIVE_KEYS} live keys per user. Each issue and revoke is audited like an
 *   admin's (kind admin_change, actor = the user).
 */
import type { Sql } from "../../../shared/db";
import type { Identity } from "../../../shared/identity";
import { listApiKeys } from "../../../shared/repos/apikeys.repo";
import { getAdminUser } from "../../../shared/repos/admin-users.repo";
import { explainAccess } from "./access.explain";
import * as svc from "./admin.service";
import type { KeyBody } from "./api.schema";
import { ApiError } from "./errors";
import type { z } from "zod";

/** Live (unrevoked, unexpired) keys one user may hold through self-service. Default 20. */
export const MAX_LIVE_KEYS = 20;

/** The `via` values that may issue keys for themselves (shared/identity.ts): a browser session or an IdP bearer token. */
const MAY_ISSUE = new Set(["session", "oidc-bearer"]);

export interface MyAccess {
  email: string;
  admin: boolean;
  adminVia: string | null;
  groups: string[];
  servers: {
    id: string;
    tenant: string;
    mcpUrl: string;
    chains: string[];
    tools: { name: string; qualified: string; via: string[]; chains: string[] }[];
  }[];
  virtualServers: {
    id: string;
    mcpUrl: string;
    reason: string;
    tools: { name: string; server: string; tool: string }[];
  }[];
}

export interface Connect {
  /** The aggregate endpoint: every server the user may use, tool names `<server>__<tool>`. */
  mcpUrl: string;
  header: string;
  headerValue: string;
  docs: string;
}

export interface Me {
  identity: Identity;
  /** Whether this caller may issue a key here (`canIssueKeys`: a browser session or IdP token). */
  canIssueKeys: boolean;
  access: MyAccess;
  keys: ReturnType<typeof svc.keyOut>[];
  connect: Connect;
}

/** How to connect a client to the gateway at `publicUrl`. */
export function connectInfo(publicUrl: string): Connect {
  const origin = publicUrl.replace(/\/$/, "");
  return {
    mcpUrl: `${origin}/mcp`,
    header: "Authorization",
    headerValue: "Bearer <your API key>",
    docs: "docs/open-webui.md",
  };
}

/** What `identity` may use, with the chains that grant it (visible items only). */
export async function myAccess(sql: Sql, identity: Identity, publicUrl: string): Promise<MyAccess> {
  const origin = publicUrl.replace(/\/$/, "");
  const x = await explainAccess(sql, identity.email);
  return {
    email: x.email,
    admin: x.admin,
    adminVia: x.adminVia,
    groups: x.groups,
    servers: x.servers.map((s) => ({
      id: s.id,
      tenant: s.tenant,
      mcpUrl: `${origin}/mcp/${s.id}`,
      chains: s.chains,
      tools: s.tools.map((t) => ({
        name: t.name,
        qualified: t.qualified,
        via: x.admin ? [] : [...new Set(t.via.map((g) => g.group))],
        chains: t.chains,
      })),
    })),
    virtualServers: x.virtualServers
      .filter((v) => v.granted)
      .map((v) => ({
        id: v.id,
        mcpUrl: `${origin}/mcp/${v.id}`,
        reason: v.reason,
        tools: v.tools.filter((t) => t.visible).map((t) => ({ name: t.name, server: t.server, tool: t.tool })),
      })),
  };
}

/** The caller's keys (never the keys themselves). */
export async function myKeys(sql: Sql, identity: Identity) {
  return (await listApiKeys(sql, identity.email.toLowerCase())).map(svc.keyOut);
}

/** Everything the self-service page and `GET /admin/api/me` show. */
export async function me(sql: Sql, identity: Identity, publicUrl: string): Promise<Me> {
  const [access, keys] = await Promise.all([myAccess(sql, identity, publicUrl), myKeys(sql, identity)]);
  return { identity, canIssueKeys: MAY_ISSUE.has(identity.via), access, keys, connect: connectInfo(publicUrl) };
}

/** Issues a key for the caller (403 when authenticated by an API key, 404 when not a stored user, 409 over {@link MAX_LIVE_KEYS}). */
export async function issueMyKey(sql: Sql, identity: Identity, body: z.infer<typeof KeyBody>) {
  if (!MAY_ISSUE.has(identity.via)) {
    throw new ApiError(
      403,
      "forbidden",
      "an API key cannot issue further keys: sign in with the browser (or use an IdP token) to issue one",
    );
  }
  const email = identity.email.toLowerCase();
  if (!(await getAdminUser(sql, email)))
    throw new ApiError(404, "not_found", `no user ${email}: an administrator has to add you first`);
  const live = (await listApiKeys(sql, email)).filter(
    (k) => !k.revoked_at && (!k.expires_at || new Date(k.expires_at) > new Date()),
  );
  if (live.length >= MAX_LIVE_KEYS)
    throw new ApiError(
      409,
      "conflict",
      `you have ${live.length} live keys, the most allowed (${MAX_LIVE_KEYS}): revoke one first`,
    );
  return svc.issueKey(sql, email, email, body);
}

/** Revokes one of the caller's own keys (404 for an unknown id and for another user's key alike). */
export async function revokeMyKey(sql: Sql, identity: Identity, id: string): Promise<void> {
  const email = identity.email.toLowerCase();
  await svc.revokeKey(sql, email, email, id);
}
