/**
 * Per-user upstream credentials (issue 14): how a server's requests are authorised upstream.
 *
 * - `shared` (default): the server's secret headers (servers.headers), the same for every user.
 * - `per-user-token`: each user's own token (pasted at `/auth/connect/<server>` or with
 *   `PUT /auth/connections/<server>`), sent as `<header>: <prefix><token>`.
 * - `per-user-oauth`: the gateway is an OAuth 2.1 client of the upstream's authorization server
 *   (authorization code + PKCE S256, RFC 8707 resource indicator, refresh); each user's access
 *   token is sent the same way. Endpoints come from the configuration, else from discovery: the
 *   upstream's protected resource metadata (RFC 9728) names the issuer, whose metadata (RFC 8414,
 *   else OpenID discovery) names the endpoints.
 *
 * Tokens live sealed in `user_connections` (shared/repos/connections.repo.ts), bound to (user,
 * server); the OAuth client secret lives sealed in `servers.credentials`. Neither is ever in an
 * API answer, a log line or an error text. The secret headers of a per-user server are still
 * sent (non-personal headers, and what the catalog lists the server with); a per-user header
 * of the same name replaces them.
 */
import { z } from "zod";

const HeaderName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be an HTTP header name")
  .refine(
    (h) => !/^(content-type|accept|content-length|host|mcp-.*|last-event-id|traceparent|tracestate|cookie)$/i.test(h),
    "names a header the gateway controls",
  );
const Prefix = z
  .string()
  .max(32)
  .regex(/^[\x20-\x7e]*$/, "must be printable ASCII");
const HttpsOrLocalUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), "must be an http(s) URL");

/** The OAuth client settings of a per-user-oauth server, as the admin gives them. */
export const OAuthSettings = z
  .object({
    issuer: HttpsOrLocalUrl.optional().describe(
      "the authorization server's issuer; omitted: found from the upstream's RFC 9728 metadata",
    ),
    authorizationEndpoint: HttpsOrLocalUrl.optional().describe("overrides discovery"),
    tokenEndpoint: HttpsOrLocalUrl.optional().describe("overrides discovery"),
    revocationEndpoint: HttpsOrLocalUrl.optional().describe(
      "RFC 7009: where a user's tokens are revoked when they disconnect; overrides discovery (the authorization server's revocation_endpoint)",
    ),
    clientId: z
      .string()
      .min(1)
      .max(500)
      .describe(
        "the gateway's client id at the authorization server (a configured client, or the URL of a client ID metadata document)",
      ),
    clientSecret: z
      .string()
      .min(1)
      .max(2000)
      .optional()
      .describe(
        "write-only; omitted: a public client (PKCE only), or the stored secret is kept while clientId stays the same",
      ),
    scopes: z.string().max(1000).default("").describe("scopes to ask for, space-separated"),
    resource: HttpsOrLocalUrl.optional().describe("RFC 8707 resource indicator; default the server's URL"),
  })
  .strict();

/** `credentials` of `PUT /admin/api/servers/{id}`. */
export const CredentialsInput = z
  .object({
    mode: z.enum(["shared", "per-user-token", "per-user-oauth"]),
    header: HeaderName.default("Authorization").describe("the header each user's token is sent in"),
    prefix: Prefix.default("Bearer ").describe("put before the token in that header"),
    oauth: OAuthSettings.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.mode === "per-user-oauth" && !c.oauth)
      ctx.addIssue({
        code: "custom",
        path: ["oauth"],
        message: "is required for mode per-user-oauth (at least clientId)",
      });
    if (c.mode !== "per-user-oauth" && c.oauth)
      ctx.addIssue({ code: "custom", path: ["oauth"], message: `is only for mode per-user-oauth, not ${c.mode}` });
  });
export type CredentialsInput = z.infer<typeof CredentialsInput>;

/** `servers.credentials` as stored: the input with the client secret sealed (or absent). */
export const StoredCredentials = z.object({
  mode: z.enum(["shared", "per-user-token", "per-user-oauth"]),
  header: z.string().optional(),
  prefix: z.string().optional(),
  oauth: z
    .object({
      issuer: z.string().optional(),
      authorizationEndpoint: z.string().optional(),
      tokenEndpoint: z.string().optional(),
      revocationEndpoint: z.string().optional(),
      clientId: z.string(),
      clientSecret: z.string().optional(),
      scopes: z.string().optional(),
      resource: z.string().optional(),
    })
    .optional(),
});
export type StoredCredentials = z.infer<typeof StoredCredentials>;

/** What answers show of a server's credential settings: never the client secret, only whether there is one. */
export function publicCredentials(c: StoredCredentials | undefined): Record<string, unknown> {
  if (!c || c.mode === "shared") return { mode: "shared" };
  const { clientSecret, ...oauth } = c.oauth ?? ({} as NonNullable<StoredCredentials["oauth"]>);
  return {
    mode: c.mode,
    header: c.header ?? "Authorization",
    prefix: c.prefix ?? "Bearer ",
    ...(c.oauth ? { oauth: { ...oauth, hasClientSecret: !!clientSecret } } : {}),
  };
}

/** Whether each user brings their own credential for the server. */
export function isPerUser(c: StoredCredentials | undefined): boolean {
  return !!c && c.mode !== "shared";
}

/** A server's address and stored credential settings: what users' connections were made for. */
export interface ServerAccess {
  url: string;
  credentials?: StoredCredentials;
}

/**
 * Whether the connections users made to a server set up as `before` still fit it set up as
 * `after`. They do not when the mode, the header, the OAuth client, the server's URL or the
 * resource the tokens were issued for (`oauth.resource`, else the URL) changes: a token is
 * never sent to another address or in another scheme than the one it was obtained for. A
 * shared server has no connections, so nothing is kept or dropped.
 */
export function connectionsFit(before: ServerAccess, after: ServerAccess): boolean {
  const b = before.credentials;
  const a = after.credentials;
  if (!isPerUser(b)) return true;
  return (
    !!a &&
    a.mode === b!.mode &&
    (a.header ?? "Authorization") === (b!.header ?? "Authorization") &&
    a.oauth?.clientId === b!.oauth?.clientId &&
    after.url === before.url &&
    (a.oauth?.resource ?? after.url) === (b!.oauth?.resource ?? before.url)
  );
}

/** Sealing context of the OAuth client secret of server `id`. */
export const clientSecretContext = (serverId: string) => `servers.credentials:${serverId}:clientSecret`;

/** Sealing context of one token of a connection: bound to the user and the server. */
export const connectionContext = (email: string, serverId: string, field: "access" | "refresh") =>
  `user_connections:${email.toLowerCase()}:${serverId}:${field}`;

/** The link a user opens to connect their account for `serverId`. */
export const connectUrl = (publicUrl: string, serverId: string) =>
  `${publicUrl.replace(/\/$/, "")}/auth/connect/${serverId}`;
