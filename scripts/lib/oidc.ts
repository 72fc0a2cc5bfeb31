/**
 * The local identity provider: a real OpenID Connect provider (the `oidc-provider` library, not an
 * imitation) that `npm start` and the tests run in their Node process on a free loopback port.
 *
 * - Demo users ({@link DEMO_USERS}) sign in with a small password form written on the provider's
 *   interaction API.
 * - Only the clients below exist: dynamic client registration is off (an open registration let
 *   any web site register its own redirect URI and, consent being automatic, receive a code for
 *   whoever was signed in). A redirect URI a client did not register is refused, no code issued.
 * - Client `mcp-gateway` (confidential, secret generated per start) with redirect URI
 *   `<PUBLIC_URL>/auth/callback`: the gateway's browser login. It receives refresh tokens.
 * - Client `open-webui` (confidential, secret {@link OPEN_WEBUI_DEMO_SECRET}, fixed loopback redirect URIs)
 *   stands for Open WebUI's own OIDC login (its `system_oauth` mode forwards the token it gets).
 * - Client `mcp-client` ({@link MCP_CLIENT_ID}; public, PKCE, RFC 8252 native app): for MCP clients
 *   in `oauth_2.1` mode (MCP Inspector, mcp-remote, Claude Code, scripts); redirect URIs on
 *   loopback only (`http://127.0.0.1`, `localhost` or `[::1]`, any port, path `/callback`,
 *   `/oauth/callback` or `/oauth/callback/debug`), so a code can reach only a program on the user's own machine.
 * - Consent: granted without asking for the two confidential first-party clients; the public
 *   client gets a consent page naming it and where the code goes (Allow / Deny).
 * - Access tokens for the resource `<PUBLIC_URL>/mcp` (RFC 8707; the default for every client
 *   but the gateway) are RS256 JWTs with `email` and `groups`, so the gateway validates them
 *   with the JWKS alone. ID tokens carry `email`, `name` and the `groups` claim.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { exportJWK, generateKeyPair } from "jose";
import Provider, { type Configuration, type KoaContextWithOIDC } from "oidc-provider";
import { freePort } from "./ports";

export interface DemoUser {
  email: string;
  name: string;
  password: string;
  groups: string[];
}

/** The demo users and their passwords (documented in docs/open-webui.md and the README). */
export const DEMO_USERS: DemoUser[] = [
  { email: "admin@localhost", name: "Admin", password: "admin", groups: ["mcp-admin"] },
  { email: "joelalama@google.com", name: "Joe Lalama", password: "demo", groups: ["google-users"] },
  { email: "miketest@microsoft.com", name: "Mike Test", password: "demo", groups: ["microsoft-users"] },
];

export const GATEWAY_CLIENT_ID = "mcp-gateway";
export const OPEN_WEBUI_CLIENT_ID = "open-webui";
/** The public client for MCP clients in `oauth_2.1` mode (no secret; PKCE; loopback redirect URIs). */
export const MCP_CLIENT_ID = "mcp-client";
/** Its redirect URIs; any port is accepted on these loopback hosts (RFC 8252 section 7.3). */
// `/oauth/callback/debug`: the MCP Inspector's "Quick OAuth Flow" (docs/clients.md)
export const MCP_CLIENT_REDIRECT_URIS = ["127.0.0.1", "localhost", "[::1]"].flatMap((host) => [
  `http://${host}/callback`,
  `http://${host}/oauth/callback`,
  `http://${host}/oauth/callback/debug`,
]);
/** Clients whose consent is implied: the gateway's own login and the demo Open WebUI (both confidential). */
const FIRST_PARTY = new Set([GATEWAY_CLIENT_ID, OPEN_WEBUI_CLIENT_ID]);
/** The demo Open WebUI client's secret (local provider only). */
export const OPEN_WEBUI_DEMO_SECRET = "open-webui-demo-secret";

export interface LocalIdpOptions {
  /** The gateway's public origin, e.g. http://localhost:8000. */
  publicUrl: string;
  /** Port on 127.0.0.1; 0 or unset picks a free one. */
  port?: number;
  /** Users who may sign in. Default {@link DEMO_USERS}. */
  users?: DemoUser[];
  /** The gateway client's secret. Default: random per start. */
  clientSecret?: string;
  /** Access token lifetime in seconds. Default 600. */
  accessTokenTtl?: number;
  /** ID token lifetime in seconds. Default 600. */
  idTokenTtl?: number;
}

export interface LocalIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  users: DemoUser[];
  /** Variables for the auth worker. */
  env: { OIDC_ISSUER: string; OIDC_CLIENT_ID: string; OIDC_CLIENT_SECRET: string };
  provider: Provider;
  /** The provider's private signing key (JWK), for tests that mint tokens it could have issued. */
  signingKey: Record<string, unknown>;
  stop(): Promise<void>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto}label{display:block;margin:.6rem 0}input{width:100%;padding:.4rem}button{margin-top:1rem;padding:.5rem 1rem}.err{color:#b00}</style>
</head><body>${body}</body></html>`;
}

function loginForm(uid: string, users: DemoUser[], error = "", email = ""): string {
  return page(
    "Sign in",
    `<h1>Sign in</h1><p>Local demo identity provider.</p>${error ? `<p class="err">${esc(error)}</p>` : ""}
<form method="post" action="/interaction/${esc(uid)}/login" id="login">
<label>Email <input name="email" type="email" autocomplete="username" value="${esc(email)}" autofocus required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form>
<p>Demo users: ${users.map((u) => esc(u.email)).join(", ")}</p>`,
  );
}

function consentForm(uid: string, client: string, account: string, redirectUri: string): string {
  return page(
    "Allow access?",
    `<h1>Allow access?</h1><p><strong>${esc(client)}</strong> asks to use the MCP gateway as <strong>${esc(account)}</strong>.</p>
<p>The answer goes to <code>${esc(redirectUri)}</code>, a program on this computer.</p>
<form method="post" action="/interaction/${esc(uid)}/consent" id="consent">
<button type="submit" name="decision" value="allow">Allow</button> <button type="submit" name="decision" value="deny">Deny</button></form>`,
  );
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 16_384) throw new Error("form too large");
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

/**
 * In-memory storage for the provider (sessions, grants, codes, tokens), per process. The local
 * provider is for one machine; its state going with the process is intended (tokens it issued
 * stop working at restart, the gateway's own session cookie then logs in again).
 */
class MemoryAdapter {
  private static store = new Map<string, { payload: Record<string, any>; exp: number | null }>();
  constructor(private readonly model: string) {}
  private key(id: string) {
    return `${this.model}:${id}`;
  }
  private get(key: string) {
    const hit = MemoryAdapter.store.get(key);
    if (!hit) return undefined;
    if (hit.exp !== null && hit.exp <= Date.now()) {
      MemoryAdapter.store.delete(key);
      return undefined;
    }
    return hit.payload;
  }
  async upsert(id: string, payload: Record<string, any>, expiresIn?: number) {
    MemoryAdapter.store.set(this.key(id), { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : null });
    if (payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      const list = (MemoryAdapter.store.get(grantKey)?.payload.keys as string[] | undefined) ?? [];
      MemoryAdapter.store.set(grantKey, { payload: { keys: [...list, this.key(id)] }, exp: null });
    }
    if (payload.userCode) MemoryAdapter.store.set(`userCode:${payload.userCode}`, { payload: { id }, exp: null });
    if (payload.uid) MemoryAdapter.store.set(`uid:${this.model}:${payload.uid}`, { payload: { id }, exp: null });
  }
  async find(id: string) {
    return this.get(this.key(id));
  }
  async findByUserCode(userCode: string) {
    const ref = this.get(`userCode:${userCode}`);
    return ref ? this.find(String(ref.id)) : undefined;
  }
  async findByUid(uid: string) {
    const ref = this.get(`uid:${this.model}:${uid}`);
    return ref ? this.find(String(ref.id)) : undefined;
  }
  async consume(id: string) {
    const hit = this.get(this.key(id));
    if (hit) hit.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id: string) {
    MemoryAdapter.store.delete(this.key(id));
  }
  async revokeByGrantId(grantId: string) {
    const grantKey = `grant:${grantId}`;
    for (const k of (MemoryAdapter.store.get(grantKey)?.payload.keys as string[] | undefined) ?? [])
      MemoryAdapter.store.delete(k);
    MemoryAdapter.store.delete(grantKey);
  }
}

/** Starts the local OIDC provider. */
export async function startLocalIdp(opts: LocalIdpOptions): Promise<LocalIdp> {
  const users = opts.users ?? DEMO_USERS;
  const byEmail = new Map(users.map((u) => [u.email.toLowerCase(), u]));
  const port = opts.port || (await freePort());
  const issuer = `http://127.0.0.1:${port}`;
  const publicUrl = opts.publicUrl.replace(/\/$/, "");
  const resource = `${publicUrl}/mcp`;
  const clientSecret = opts.clientSecret ?? randomBytes(32).toString("base64url");
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg: "RS256", use: "sig", kid: randomBytes(8).toString("hex") };

  const claimsOf = (u: DemoUser) => ({
    sub: u.email,
    email: u.email,
    email_verified: true,
    name: u.name,
    groups: u.groups,
  });
  const isMcpResource = (r: string) => r === resource || r.startsWith(resource + "/");

  const configuration: Configuration = {
    adapter: MemoryAdapter as any,
    clients: [
      {
        client_id: GATEWAY_CLIENT_ID,
        client_secret: clientSecret,
        client_name: "MCP gateway",
        redirect_uris: [`${publicUrl}/auth/callback`],
        post_logout_redirect_uris: [`${publicUrl}/auth/logged-out`, `${publicUrl}/`],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
      },
      {
        client_id: OPEN_WEBUI_CLIENT_ID,
        client_secret: OPEN_WEBUI_DEMO_SECRET,
        client_name: "Open WebUI (demo)",
        redirect_uris: [
          "http://localhost:8080/oauth/oidc/callback",
          "http://127.0.0.1:8080/oauth/oidc/callback",
          "http://localhost/callback",
        ],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
      },
      {
        client_id: MCP_CLIENT_ID,
        client_name: "MCP client (public, loopback)",
        application_type: "native",
        token_endpoint_auth_method: "none",
        redirect_uris: MCP_CLIENT_REDIRECT_URIS,
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
      },
    ],
    jwks: { keys: [jwk as any] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    // groups ride with `profile` too, so the default login scopes carry them (as a Keycloak mapper would)
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "groups"], groups: ["groups"] },
    scopes: ["openid", "offline_access", "email", "profile", "groups", "mcp"],
    pkce: { required: () => true },
    findAccount: async (_ctx, sub) => {
      const u = byEmail.get(String(sub).toLowerCase());
      if (!u) return undefined;
      return { accountId: u.email, claims: async () => claimsOf(u) };
    },
    conformIdTokenClaims: false,
    // like Keycloak: a refresh token for every code grant of a client allowed to refresh
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: true,
    extraTokenClaims: async (_ctx, token) => {
      if (!("resourceServer" in token) || !token.resourceServer) return undefined;
      const u = byEmail.get(String((token as { accountId?: string }).accountId ?? "").toLowerCase());
      return u ? { email: u.email, email_verified: true, groups: u.groups } : undefined;
    },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx: KoaContextWithOIDC, form: string) => {
          ctx.body = page(
            "Sign out",
            `<h1>Signing out...</h1>${form}<button type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button>
<script>document.getElementById("op.logoutForm").insertAdjacentHTML("beforeend",'<input type="hidden" name="logout" value="yes">');document.getElementById("op.logoutForm").submit()</script>`,
          );
        },
        postLogoutSuccessSource: async (ctx: KoaContextWithOIDC) => {
          ctx.body = page("Signed out", "<h1>Signed out</h1>");
        },
      },
      resourceIndicators: {
        enabled: true,
        // Every client but the gateway gets a JWT access token for the MCP endpoint by default.
        defaultResource: async (ctx, client, oneOf) =>
          oneOf ?? (client.clientId === GATEWAY_CLIENT_ID ? undefined : resource),
        useGrantedResource: async (ctx) => ctx.oidc.client?.clientId !== GATEWAY_CLIENT_ID,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (!isMcpResource(indicator)) throw new (Provider as any).errors.InvalidTarget();
          return {
            scope: "mcp",
            audience: indicator,
            accessTokenTTL: opts.accessTokenTtl ?? 600,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
    ttl: {
      AccessToken: opts.accessTokenTtl ?? 600,
      AuthorizationCode: 60,
      IdToken: opts.idTokenTtl ?? 600,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
      RefreshToken: 8 * 3600,
      ClientCredentials: 600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: async (ctx, out) => {
      ctx.type = "html";
      ctx.body = page(
        "Error",
        `<h1>Sign-in error</h1><p>${esc(String(out.error))}: ${esc(String(out.error_description ?? ""))}</p>`,
      );
    },
  };
  const provider = new Provider(issuer, configuration);
  provider.on("server_error", (_ctx, err) => console.error(`[oidc] server error: ${(err as Error).message}`));
  const callback = provider.callback();

  async function interaction(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const send = (status: number, html: string) => {
      res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(html);
    };
    const details = await provider.interactionDetails(req, res);
    const uid = details.uid;
    if (details.prompt.name === "login") {
      if (req.method === "POST" && path.endsWith("/login")) {
        const form = await readForm(req);
        const email = (form.get("email") ?? "").trim().toLowerCase();
        const user = byEmail.get(email);
        if (!user || form.get("password") !== user.password)
          return send(401, loginForm(uid, users, "Unknown email or wrong password.", email));
        return provider.interactionFinished(
          req,
          res,
          { login: { accountId: user.email } },
          { mergeWithLastSubmission: false },
        );
      }
      return send(200, loginForm(uid, users));
    }
    if (details.prompt.name === "consent") {
      const clientId = String(details.params.client_id);
      if (!FIRST_PARTY.has(clientId)) {
        // a public client: the signed-in user decides, seeing who asks and where the code goes
        if (!(req.method === "POST" && path.endsWith("/consent"))) {
          const client = await provider.Client.find(clientId);
          return send(
            200,
            consentForm(
              uid,
              client?.clientName ?? clientId,
              details.session!.accountId,
              String(details.params.redirect_uri ?? ""),
            ),
          );
        }
        const form = await readForm(req);
        if (form.get("decision") !== "allow") {
          return provider.interactionFinished(
            req,
            res,
            { error: "access_denied", error_description: "the user did not allow it" },
            { mergeWithLastSubmission: false },
          );
        }
      }
      const { Grant } = provider;
      const grant = details.grantId
        ? await Grant.find(details.grantId)
        : new Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string });
      const d = details.prompt.details as {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      if (d.missingOIDCScope) grant!.addOIDCScope(d.missingOIDCScope.join(" "));
      if (d.missingOIDCClaims) grant!.addOIDCClaims(d.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {}))
        grant!.addResourceScope(indicator, scopes.join(" "));
      const grantId = await grant!.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    return send(400, page("Error", "<p>unsupported interaction</p>"));
  }

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (path.startsWith("/interaction/")) {
      interaction(req, res, path).catch((err: Error) => {
        if (res.headersSent) return res.end();
        res.writeHead(400, { "content-type": "text/html; charset=utf-8" });
        res.end(page("Error", `<p>${esc(err.message)}</p>`));
      });
      return;
    }
    void callback(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    issuer,
    clientId: GATEWAY_CLIENT_ID,
    clientSecret,
    users,
    env: { OIDC_ISSUER: issuer, OIDC_CLIENT_ID: GATEWAY_CLIENT_ID, OIDC_CLIENT_SECRET: clientSecret },
    provider,
    signingKey: jwk,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
