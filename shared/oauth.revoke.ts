/**
 * A per-user-oauth server's OAuth client (shared/oauth.client.ts, endpoints discovered, secret
 * opened), and RFC 7009 revocation of a deleted connection's tokens at it: by the auth worker
 * when a user disconnects, by the catalog when an admin deletes a user or a server (the two
 * workers that reach authorization servers), and by the catalog for the connections an admin's
 * change of a server's address or credential settings dropped ({@link revokeDropped}). Best
 * effort: failures are logged without the token, and the local record is gone either way (the
 * caller deleted it first).
 */
import { z } from "zod";
import { StoredCredentials } from "./credentials";
import { log } from "./log";
import { discoverEndpoints, revokeToken, type OAuthClient } from "./oauth.client";
import { openConnectionSecrets, SealedConnection, type TakenConnection } from "./repos/connections.repo";
import { openClientSecret } from "./repos/servers.repo";
import { ServerId, type ServerRow } from "./schemas";
import type { KeyRing } from "./secrets";

/** What revocation needs of a server: its id, address and credential settings (client secret sealed). */
type RevokingServer = Pick<ServerRow, "id" | "url" | "credentials">;

/**
 * Connections deleted with a change of their server's address or credential settings: the server
 * as it was (the settings the tokens were obtained under) and the connections, tokens sealed.
 * The admin worker sends it to the catalog after the change is committed.
 */
export const DroppedConnections = z.strictObject({
  server: z.strictObject({ id: ServerId, url: z.string().url(), credentials: StoredCredentials.optional() }),
  connections: z.array(SealedConnection).max(100_000),
});
export type DroppedConnections = z.infer<typeof DroppedConnections>;

/** The server's OAuth client. Throws OAuthClientError (discovery) or SecretsError (the secret does not open). */
export async function serverOAuthClient(ring: KeyRing, server: RevokingServer): Promise<OAuthClient> {
  const oauth = server.credentials!.oauth!;
  const endpoints = await discoverEndpoints(server.url, oauth);
  return {
    ...endpoints,
    clientId: oauth.clientId,
    clientSecret: await openClientSecret(ring, server.id, server.credentials),
    scopes: oauth.scopes ?? "",
    resource: oauth.resource ?? server.url,
  };
}

/**
 * Revokes a deleted connection's refresh token, then its access token, at the server's
 * revocation endpoint - only at the authorization server that issued them (the token endpoint
 * the connection recorded), never a token sent elsewhere. Returns how many were revoked.
 */
export async function revokeAtProvider(
  ring: KeyRing,
  server: RevokingServer | null,
  conn: TakenConnection,
): Promise<number> {
  if (!server || conn.kind !== "oauth" || server.credentials?.mode !== "per-user-oauth" || !server.credentials.oauth)
    return 0;
  // errors name a step and the server's error code, never a token
  const failed = (err: unknown) =>
    log.warn("upstream token revocation failed; the connection is deleted here all the same", {
      server: server.id,
      message: String((err as Error)?.message ?? err),
    });
  let client: OAuthClient;
  try {
    client = await serverOAuthClient(ring, server);
  } catch (err) {
    failed(err);
    return 0;
  }
  if (!client.revocationEndpoint) return 0;
  if (conn.tokenEndpoint && conn.tokenEndpoint !== client.tokenEndpoint) {
    log.info("connection not revoked: its authorization server is no longer the server's", { server: server.id });
    return 0;
  }
  const target = { ...client, revocationEndpoint: client.revocationEndpoint };
  let revoked = 0;
  for (const [token, hint] of [
    [conn.refresh, "refresh_token"],
    [conn.access, "access_token"],
  ] as const) {
    if (!token) continue;
    try {
      await revokeToken(target, token, hint);
      revoked++;
    } catch (err) {
      failed(err);
    }
  }
  if (revoked) log.info("upstream tokens revoked", { server: server.id, revoked });
  return revoked;
}

/**
 * Revokes the tokens of connections a server change dropped, at the authorization server of the
 * settings they were obtained under. A token that does not open (another key, tampered) is
 * skipped. Returns how many tokens were revoked.
 */
export async function revokeDropped(ring: KeyRing, dropped: DroppedConnections): Promise<number> {
  const { server } = dropped;
  let revoked = 0;
  for (const c of dropped.connections) {
    const s = await openConnectionSecrets(ring, c.email, server.id, c.secrets).catch(() => null);
    if (!s) {
      log.warn("a dropped connection's tokens do not open; not revoked", { server: server.id });
      continue;
    }
    const conn = {
      kind: c.kind,
      access: s.access ?? null,
      refresh: s.refresh ?? null,
      tokenEndpoint: c.tokenEndpoint,
      expiresAt: null,
    };
    revoked += await revokeAtProvider(ring, server, conn);
  }
  return revoked;
}
