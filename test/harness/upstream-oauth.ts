/**
 * A GitHub-style upstream for the per-user credential tests: a real OAuth 2.1 authorization
 * server (the `oidc-provider` library, a second instance next to the stack's login provider) and
 * a real MCP server (SDK 1.x, Streamable HTTP) that requires that server's access tokens.
 *
 * - The authorization server issues RS256 JWT access tokens for the resource indicator (RFC 8707)
 *   `<mcp url>` only, with refresh tokens (rotated), revocation and introspection (RFC 7009, 7662); its login form takes an e-mail
 *   and password (users below), consent is implied for the gateway's client.
 * - The MCP server publishes its protected resource metadata (RFC 9728) naming that issuer,
 *   answers `initialize`, `tools/list` and notifications without a token (what the catalog lists
 *   with), and everything else only with a valid token (signature by the issuer's JWKS, issuer,
 *   audience = its URL, expiry), else 401 + `WWW-Authenticate`. Its `whoami` tool answers the
 *   token's subject. Personal access tokens (`pats`: token -> subject) count too, as GitHub's
 *   do. `seen` records every Authorization header it got; `deny` makes it refuse
 *   a token it would otherwise accept (a token the provider revoked, as GitHub would).
 * - `cimd`: the authorization server also takes https URL client ids (OAuth Client ID Metadata
 *   Documents, oidc-provider's `features.clientIdMetadataDocument`): it fetches the document
 *   over TLS, trusting `cimd.ca` (the test's own certificate authority). oidc-provider's
 *   `fetch` setting is how: its default refuses loopback addresses (SSRF protection), and a
 *   client id must be an https URL.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";
import Provider, { type Configuration } from "oidc-provider";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { freePort } from "../../scripts/lib/ports";

export interface OAuthUpstream {
  issuer: string;
  /** The MCP endpoint (also the resource indicator). */
  mcpUrl: string;
  clientId: string;
  clientSecret: string;
  provider: Provider;
  /** Authorization headers the MCP server received, in order, with the method. */
  seen: { method: string; authorization: string | null; subject: string | null }[];
  /** Access tokens the MCP server refuses from now on. */
  deny: Set<string>;
  /** Access token lifetime (s) for tokens issued from now on. */
  setAccessTokenTtl(seconds: number): void;
  stop(): Promise<void>;
}

const page = (body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>Upstream sign-in</title></head><body>${body}</body></html>`;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** A fetch over node:https trusting `ca` (what the authorization server fetches client metadata with). */
function tlsFetch(ca: string) {
  return (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
    new Promise((resolve, reject) => {
      const url = input instanceof Request ? input.url : input;
      const req = httpsRequest(
        url,
        {
          method: init.method ?? "GET",
          headers: Object.fromEntries(new Headers(init.headers).entries()),
          ca,
          signal: (init.signal ?? undefined) as AbortSignal | undefined,
        },
        (res) => {
          void readBody(res).then((body) => {
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.set(k, v);
            resolve(new Response(body, { status: res.statusCode ?? 502, headers }));
          }, reject);
        },
      );
      req.on("error", reject);
      req.end();
    });
}

/**
 * Starts both. `redirectUri`: the gateway's connect callback (`<PUBLIC_URL>/auth/connect-callback`).
 * `users`: e-mail -> password at this provider (its own accounts, like GitHub's).
 */
export async function startOAuthUpstream(opts: {
  redirectUri: string;
  users: Record<string, string>;
  accessTokenTtl?: number;
  pats?: Record<string, string>;
  cimd?: { ca: string };
}): Promise<OAuthUpstream> {
  const asPort = await freePort();
  const issuer = `http://127.0.0.1:${asPort}`;
  const mcpServer = createServer();
  await new Promise<void>((r) => mcpServer.listen(0, "127.0.0.1", () => r()));
  const mcpUrl = `http://127.0.0.1:${(mcpServer.address() as AddressInfo).port}/mcp`;
  const clientId = "gateway-at-upstream";
  const clientSecret = randomBytes(24).toString("base64url");
  let ttl = opts.accessTokenTtl ?? 3600;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg: "RS256", use: "sig", kid: randomBytes(6).toString("hex") };

  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [opts.redirectUri],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
      },
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: [randomBytes(16).toString("hex")] },
    scopes: ["openid", "repo"],
    pkce: { required: () => true },
    findAccount: async (_ctx, sub) =>
      opts.users[sub] !== undefined ? { accountId: sub, claims: async () => ({ sub }) } : undefined,
    issueRefreshToken: async () => true,
    rotateRefreshToken: true,
    ...(opts.cimd ? { fetch: tlsFetch(opts.cimd.ca) } : {}),
    features: {
      ...(opts.cimd ? ({ clientIdMetadataDocument: { enabled: true, ack: "draft-02" } } as object) : {}),
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? mcpUrl,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== mcpUrl)
            throw new (Provider as unknown as { errors: { InvalidTarget: new () => Error } }).errors.InvalidTarget();
          return {
            scope: "repo",
            audience: mcpUrl,
            accessTokenTTL: ttl,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
    ttl: {
      AccessToken: () => ttl,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
      RefreshToken: 3600,
      IdToken: 600,
    },
    interactions: { url: (_ctx, i) => `/interaction/${i.uid}` },
  };
  const provider = new Provider(issuer, configuration);
  const callback = provider.callback();

  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === "login") {
      if (req.method === "POST") {
        const form = new URLSearchParams(await readBody(req));
        const email = form.get("email") ?? "";
        if (opts.users[email] === undefined || opts.users[email] !== form.get("password")) {
          res.writeHead(401, { "content-type": "text/html" });
          return void res.end(page("<p>wrong password</p>"));
        }
        return provider.interactionFinished(
          req,
          res,
          { login: { accountId: email } },
          { mergeWithLastSubmission: false },
        );
      }
      res.writeHead(200, { "content-type": "text/html" });
      return void res.end(
        page(
          `<h1>Sign in to the upstream</h1><form method="post" id="upstream-login"><input name="email" id="up-email"><input name="password" type="password" id="up-password"><button type="submit" id="up-submit">Sign in</button></form>`,
        ),
      );
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    const d = details.prompt.details as {
      missingOIDCScope?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (d.missingOIDCScope) grant!.addOIDCScope(d.missingOIDCScope.join(" "));
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {}))
      grant!.addResourceScope(indicator, scopes.join(" "));
    return provider.interactionFinished(
      req,
      res,
      { consent: { grantId: await grant!.save() } },
      { mergeWithLastSubmission: true },
    );
  }

  const asServer: Server = createServer((req, res) => {
    if ((req.url ?? "").startsWith("/interaction/")) {
      interaction(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(400, { "content-type": "text/plain" });
        res.end(err.message);
      });
      return;
    }
    void callback(req, res);
  });
  await new Promise<void>((r) => asServer.listen(asPort, "127.0.0.1", () => r()));

  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const seen: OAuthUpstream["seen"] = [];
  const deny = new Set<string>();
  const open = new Set(["initialize", "notifications/initialized", "tools/list", "ping", "server/discover"]);

  mcpServer.on("request", (req, res) => {
    void (async () => {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/.well-known/oauth-protected-resource/mcp" || path === "/.well-known/oauth-protected-resource") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(
          JSON.stringify({ resource: mcpUrl, authorization_servers: [issuer], bearer_methods_supported: ["header"] }),
        );
      }
      if (path !== "/mcp") {
        res.writeHead(404).end();
        return;
      }
      if (req.method !== "POST") {
        res.writeHead(405, { allow: "POST" }).end();
        return;
      }
      const raw = await readBody(req);
      let msg: { method?: string; id?: unknown };
      try {
        msg = JSON.parse(raw);
      } catch {
        res.writeHead(400).end();
        return;
      }
      const method = String(msg.method ?? "");
      const auth = req.headers.authorization ?? null;
      let subject: string | null = null;
      if (auth?.startsWith("Bearer ")) {
        const token = auth.slice(7);
        const pat = opts.pats?.[token];
        if (pat && !deny.has(token)) subject = pat;
        else
          try {
            if (!deny.has(token))
              subject = String((await jwtVerify(token, jwks, { issuer, audience: mcpUrl })).payload.sub);
          } catch {
            subject = null;
          }
      }
      seen.push({ method, authorization: auth, subject });
      if (!subject && !open.has(method)) {
        res.writeHead(401, {
          "content-type": "application/json",
          "www-authenticate": `Bearer resource_metadata="${new URL(mcpUrl).origin}/.well-known/oauth-protected-resource/mcp"`,
        });
        return res.end(JSON.stringify({ error: "invalid_token" }));
      }
      const server = new McpServer({ name: "github-style", version: "1.0.0" });
      server.registerTool("whoami", { description: "Who the upstream thinks you are" }, async () => ({
        content: [{ type: "text", text: `you are ${subject}` }],
      }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      await server.connect(transport);
      res.on("close", () => void transport.close());
      await transport.handleRequest(req, res, JSON.parse(raw));
    })().catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err.message));
    });
  });

  return {
    issuer,
    mcpUrl,
    clientId,
    clientSecret,
    provider,
    seen,
    deny,
    setAccessTokenTtl: (s) => (ttl = s),
    stop: async () => {
      for (const s of [asServer, mcpServer]) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}
