/**
 * The per-user half of the credentials answer (credentials.routes.ts): the user's own token for
 * a per-user server (shared/credentials.ts), refreshed here when it is due or when the mcp worker
 * says the upstream refused it (`force`). Refreshes of one connection are serialised with a row
 * lock, so two replicas never spend one refresh token twice; a refresh the authorization server
 * refuses (invalid_grant: revoked, expired) deletes the connection and the user connects again.
 * The catalog reaches the authorization server for this (in production: the `egress` network).
 */
import type { ServerCredentials } from "../../../shared/catalog.schema";
import { withSql } from "../../../shared/db";
import { log } from "../../../shared/log";
import { discoverEndpoints, OAuthClientError, refreshToken } from "../../../shared/oauth.client";
import {
  deleteConnection,
  openConnection,
  saveConnection,
  type OpenConnection,
} from "../../../shared/repos/connections.repo";
import { openClientSecret } from "../../../shared/repos/servers.repo";
import type { ServerRow } from "../../../shared/schemas";
import type { KeyRing } from "../../../shared/secrets";

/** A token this close to its expiry is refreshed before use (s). */
const REFRESH_MARGIN_S = 30;

/** Why there is no usable credential for the user: the mcp worker answers with the connect link. */
export class NotConnected extends Error {
  constructor(readonly reason: "none" | "expired" | "rejected") {
    super(reason);
  }
}

/** The authorization server could not be reached or answered nonsense: retry later. */
export class RefreshUnavailable extends Error {}

const due = (c: OpenConnection) =>
  c.expiresAt !== null && c.expiresAt.getTime() - REFRESH_MARGIN_S * 1000 <= Date.now();

/**
 * The header carrying `email`'s own credential for `server`. Throws {@link NotConnected} or
 * {@link RefreshUnavailable}.
 */
export async function userCredential(
  databaseUrl: string,
  ctx: { waitUntil(p: Promise<unknown>): void },
  ring: KeyRing,
  email: string,
  server: ServerRow,
  force: boolean,
): Promise<Pick<ServerCredentials, "headers">> {
  const cfg = server.credentials!;
  const header = cfg.header ?? "Authorization";
  const prefix = cfg.prefix ?? "Bearer ";
  const access = await withSql(databaseUrl, ctx, async (sql) => {
    const conn = await openConnection(sql, ring, email, server.id);
    if (!conn) throw new NotConnected("none");
    if (conn.kind === "token" || cfg.mode !== "per-user-oauth") {
      if (force) throw new NotConnected("rejected");
      return conn.access;
    }
    if (!force && !due(conn)) return conn.access;
    // failures are returned, not thrown, so the transaction commits the deletion it made
    const out = (await sql.begin(
      async (tx): Promise<{ token: string } | { fail: NotConnected | RefreshUnavailable }> => {
        const locked = await openConnection(tx, ring, email, server.id, true);
        if (!locked) return { fail: new NotConnected("none") };
        // another request refreshed it while this one waited for the lock
        if (locked.access !== conn.access && !due(locked)) return { token: locked.access };
        if (!locked.refresh) {
          await deleteConnection(tx, email, server.id, "expired, no refresh token");
          return { fail: new NotConnected(force ? "rejected" : "expired") };
        }
        const oauth = cfg.oauth!;
        try {
          const endpoints = await discoverEndpoints(server.url, oauth);
          if (locked.tokenEndpoint && locked.tokenEndpoint !== endpoints.tokenEndpoint) {
            await deleteConnection(tx, email, server.id, "token endpoint changed");
            return { fail: new NotConnected("expired") };
          }
          const tokens = await refreshToken(
            {
              ...endpoints,
              clientId: oauth.clientId,
              clientSecret: await openClientSecret(ring, server.id, cfg),
              resource: oauth.resource ?? server.url,
            },
            locked.refresh,
          );
          await saveConnection(
            tx,
            ring,
            email,
            server.id,
            {
              kind: "oauth",
              access: tokens.access_token,
              refresh: tokens.refresh_token ?? null,
              expiresIn: tokens.expires_in ?? null,
            },
            "refresh",
          );
          return { token: tokens.access_token };
        } catch (err) {
          if (!(err instanceof OAuthClientError)) throw err;
          if (err.step !== "token") return { fail: new RefreshUnavailable(err.message) };
          log.warn("upstream token refresh refused; the user connects again", {
            server: server.id,
            code: err.code ?? "",
          });
          await deleteConnection(tx, email, server.id, `refresh refused: ${err.code ?? "error"}`);
          return { fail: new NotConnected("expired") };
        }
      },
    )) as { token: string } | { fail: NotConnected | RefreshUnavailable };
    if ("fail" in out) throw out.fail;
    return out.token;
  });
  return { headers: { [header]: `${prefix}${access}` } };
}
