/**
 * A user's own upstream connections (per-user credential modes, shared/credentials.ts),
 * authenticated as that user: browser session, or their own bearer credential (API key, IdP token).
 *
 * - `GET /auth/connections`: JSON `{connections, servers}` (no secrets), or the "My connections"
 *   page for a browser (`Accept: text/html`) with Connect / Disconnect buttons;
 * - `PUT /auth/connections/{server}` `{"token": "..."}` -> 204: a per-user-token server's token;
 * - `DELETE /auth/connections/{server}` -> 204 (`POST .../disconnect` from the page, with its form token):
 *   the record is deleted, then an OAuth connection's refresh and access tokens are revoked at
 *   the authorization server (RFC 7009) when it has a revocation endpoint, best effort (a failure
 *   is logged without the token; the answer is 204 either way);
 * - `GET /auth/connect/{server}` (browser): the token form, or the OAuth flow (code + PKCE S256,
 *   RFC 8707 resource, state in a 10-minute encrypted cookie, single use in Postgres) whose
 *   answer comes back to `GET /auth/connect-callback`; then the page says so and links back.
 *
 * A server the user may not use answers 404, exactly like one that does not exist. Unsafe
 * requests from a browser must come from the public origin (Origin / Sec-Fetch-Site), and the
 * page's forms carry a token bound to the user (HMAC with IDENTITY_SECRET).
 */
import type { Context, Hono } from "hono";
import { z } from "zod";
import { connectUrl, isPerUser } from "../../../shared/credentials";
import { randomToken, sha256Hex, timingSafeEqual } from "../../../shared/crypto";
import { withSql, type Sql } from "../../../shared/db";
import { readEnv } from "../../../shared/env";
import type { Identity } from "../../../shared/identity";
import { log } from "../../../shared/log";
import { authorizeUrl, exchangeCode, OAuthClientError, type OAuthClient } from "../../../shared/oauth.client";
import { revokeAtProvider, serverOAuthClient } from "../../../shared/oauth.revoke";
import { loadAccess } from "../../../shared/repos/access.repo";
import { loadServer } from "../../../shared/repos/catalog.repo";
import { listConnections, saveConnection, takeConnection } from "../../../shared/repos/connections.repo";
import { consumeLoginState } from "../../../shared/repos/sessions.repo";
import type { ServerRow } from "../../../shared/schemas";
import { keyRing } from "../../../shared/secrets";
import { clearCookie, readCookie, sealCookie, setCookie, unsealCookie } from "./cookie";
import { AuthEnv } from "./env";
import { cookieSecret, publicOrigin, secureCookies } from "./session";
import { identify } from "./verify.routes";

type App = Hono<{ Bindings: Record<string, unknown> }>;
type Ctx = Context<{ Bindings: Record<string, unknown> }>;

const CALLBACK_PATH = "/auth/connect-callback";
const STATE_PURPOSE = "connect-state/v1";
const STATE_TTL = 600;
const stateCookieName = (state: string) => `mcpgw_connect_${state.slice(0, 16)}`;
const ConnectState = z.object({
  state: z.string(),
  verifier: z.string(),
  server: z.string(),
  email: z.string(),
  exp: z.number(),
});
const TokenBody = z
  .object({
    token: z
      .string()
      .min(1, "must not be empty")
      .max(8192)
      .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces"),
  })
  .strict();
const FORM_FIELD = "_form";

const now = () => Math.floor(Date.now() / 1000);
const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto}table{border-collapse:collapse}td,th{padding:.3rem .8rem;text-align:left}form{display:inline}</style></head><body>${body}</body></html>`;

/** The CSRF token of the connections page's forms: bound to the user, 12 h. */
async function formToken(secret: string, email: string, exp = now() + 43_200): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sig = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`connections/v1|${email.toLowerCase()}|${exp}`)),
  );
  return `${exp}.${btoa(String.fromCharCode(...sig))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "")}`;
}
async function formTokenOk(secret: string, email: string, token: unknown): Promise<boolean> {
  if (typeof token !== "string") return false;
  const m = token.match(/^(\d{1,12})\.([A-Za-z0-9_-]{43})$/);
  if (!m || Number(m[1]) < now()) return false;
  return timingSafeEqual(token, await formToken(secret, email, Number(m[1])));
}

/** Whether an unsafe request comes from the public origin (no cross-site Origin / Sec-Fetch-Site). */
function sameOrigin(c: Ctx, origin: string): boolean {
  const o = c.req.header("origin");
  if (o !== undefined && o !== origin) return false;
  const site = c.req.header("sec-fetch-site");
  return !(site && site !== "same-origin" && site !== "none");
}

const notFound = (c: Ctx, server: string) =>
  c.json({ error: "not_found", message: `no server ${server} you may use` }, 404);

/** The per-user servers the user may use. */
async function perUserServers(sql: Sql, email: string): Promise<ServerRow[]> {
  const access = await loadAccess(sql, email);
  return access.servers.map((e) => e.server).filter((s) => isPerUser(s.credentials));
}

async function caller(c: Ctx, env: AuthEnv, origin: string): Promise<Identity | null> {
  return (await identify(c, env, origin, new URL(c.req.url).pathname)).identity;
}

/** The server's OAuth client (endpoints discovered, secret opened). */
async function oauthClient(env: AuthEnv, server: ServerRow): Promise<OAuthClient> {
  return serverOAuthClient(await keyRing(env), server);
}

export function registerConnectionRoutes(app: App) {
  const settings = (c: Ctx) => {
    const env = readEnv(AuthEnv, c.env);
    return { env, origin: publicOrigin(env) };
  };
  const unauthenticated = (c: Ctx, origin: string) =>
    c.json(
      {
        error: "unauthenticated",
        message: "sign in (browser) or send your API key as Authorization: Bearer",
        login: `${origin}/auth/login`,
      },
      401,
    );

  app.get("/auth/connections", async (c) => {
    const { env, origin } = settings(c);
    c.header("Cache-Control", "no-store");
    const who = await caller(c, env, origin);
    const html = (c.req.header("accept") ?? "").includes("text/html");
    if (!who)
      return html
        ? c.redirect(`/auth/login?rd=${encodeURIComponent("/auth/connections")}`, 302)
        : unauthenticated(c, origin);
    const { connections, servers } = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => ({
      connections: await listConnections(sql, who.email),
      servers: await perUserServers(sql, who.email),
    }));
    const visible = new Set(servers.map((s) => s.id));
    const mine = connections.filter((x) => visible.has(x.server));
    const byServer = new Map(mine.map((x) => [x.server, x]));
    const list = servers.map((s) => ({
      id: s.id,
      mode: s.credentials!.mode,
      connected: byServer.has(s.id),
      connect: connectUrl(origin, s.id),
    }));
    if (!html) return c.json({ connections: mine, servers: list });
    const token = await formToken(env.IDENTITY_SECRET, who.email);
    const rows = list
      .map((s) => {
        const x = byServer.get(s.id);
        const action = x
          ? `<form method="post" action="/auth/connections/${esc(s.id)}/disconnect"><input type="hidden" name="${FORM_FIELD}" value="${esc(token)}"><button type="submit" id="disconnect-${esc(s.id)}">Disconnect</button></form>`
          : `<a href="/auth/connect/${esc(s.id)}" id="connect-${esc(s.id)}">Connect</a>`;
        return `<tr><td>${esc(s.id)}</td><td>${s.mode === "per-user-oauth" ? "OAuth" : "personal token"}</td><td class="state">${x ? `connected ${esc(x.connectedAt)}` : "not connected"}</td><td>${action}</td></tr>`;
      })
      .join("");
    return c.html(
      page(
        "My connections",
        `<h1>My connections</h1><p>Signed in as ${esc(who.email)}. Servers that act as you need your own account connected.</p>${list.length ? `<table><tr><th>Server</th><th>Kind</th><th>State</th><th></th></tr>${rows}</table>` : "<p>None of your servers needs a connection.</p>"}`,
      ),
    );
  });

  app.put("/auth/connections/:server", async (c) => {
    const { env, origin } = settings(c);
    const who = await caller(c, env, origin);
    if (!who) return unauthenticated(c, origin);
    if (!sameOrigin(c, origin)) return c.json({ error: "forbidden", message: "cross-site request refused" }, 403);
    const id = c.req.param("server");
    const raw = await c.req.json().catch(() => undefined);
    const body = TokenBody.safeParse(raw);
    if (!body.success)
      return c.json(
        { error: "invalid_request", message: `token: ${body.error.issues[0]?.message ?? "required"}`, field: "token" },
        400,
      );
    const out = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => {
      const server = (await perUserServers(sql, who.email)).find((s) => s.id === id);
      if (!server) return "not_found" as const;
      if (server.credentials!.mode !== "per-user-token") return "oauth" as const;
      await saveConnection(sql, await keyRing(env), who.email, id, { kind: "token", access: body.data.token });
      return "ok" as const;
    });
    if (out === "not_found") return notFound(c, id);
    if (out === "oauth")
      return c.json(
        { error: "oauth_server", message: `${id} connects with OAuth: open ${connectUrl(origin, id)} in a browser` },
        409,
      );
    log.info("connection saved", { email: who.email, server: id, kind: "token" });
    return c.body(null, 204);
  });

  // a connection is the user's own to forget, also for a server they no longer may use
  const disconnect = async (c: Ctx, who: Identity, env: AuthEnv) => {
    const id = c.req.param("server") ?? "";
    const ring = await keyRing(env);
    const { server, conn } = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => ({
      conn: await sql.begin((tx) => takeConnection(tx, ring, who.email, id)),
      server: await loadServer(sql, id),
    }));
    // after the commit: the record is gone whatever the authorization server says
    if (conn) await revokeAtProvider(ring, server, conn);
  };

  app.delete("/auth/connections/:server", async (c) => {
    const { env, origin } = settings(c);
    const who = await caller(c, env, origin);
    if (!who) return unauthenticated(c, origin);
    if (!sameOrigin(c, origin)) return c.json({ error: "forbidden", message: "cross-site request refused" }, 403);
    await disconnect(c, who, env);
    return c.body(null, 204);
  });

  app.post("/auth/connections/:server/disconnect", async (c) => {
    const { env, origin } = settings(c);
    const who = await caller(c, env, origin);
    if (!who) return unauthenticated(c, origin);
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    if (!sameOrigin(c, origin) || !(await formTokenOk(env.IDENTITY_SECRET, who.email, form[FORM_FIELD])))
      return c.json(
        { error: "forbidden", message: "the form token is missing or not yours; reload My connections" },
        403,
      );
    await disconnect(c, who, env);
    return c.redirect("/auth/connections", 303);
  });

  app.post("/auth/connect/:server", async (c) => {
    const { env, origin } = settings(c);
    const who = await caller(c, env, origin);
    if (!who) return unauthenticated(c, origin);
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    if (!sameOrigin(c, origin) || !(await formTokenOk(env.IDENTITY_SECRET, who.email, form[FORM_FIELD])))
      return c.json(
        { error: "forbidden", message: "the form token is missing or not yours; open the connect page again" },
        403,
      );
    const id = c.req.param("server");
    const token = TokenBody.safeParse({ token: typeof form.token === "string" ? form.token.trim() : "" });
    if (!token.success)
      return c.html(
        page(
          "Connect",
          `<p>The token ${esc(token.error.issues[0]?.message ?? "is invalid")}. <a href="/auth/connect/${esc(id)}">Try again</a></p>`,
        ),
        400,
      );
    const ok = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => {
      const server = (await perUserServers(sql, who.email)).find((s) => s.id === id);
      if (!server || server.credentials!.mode !== "per-user-token") return false;
      await saveConnection(sql, await keyRing(env), who.email, id, { kind: "token", access: token.data.token });
      return true;
    });
    if (!ok) return notFound(c, id);
    return c.html(
      page(
        "Connected",
        `<h1>Connected</h1><p id="connected">Your token for <strong>${esc(id)}</strong> is stored. You can close this page and retry in your chat.</p><p><a href="/auth/connections">My connections</a></p>`,
      ),
    );
  });

  app.get("/auth/connect/:server", async (c) => {
    const { env, origin } = settings(c);
    c.header("Cache-Control", "no-store");
    const id = c.req.param("server");
    const who = await caller(c, env, origin);
    if (!who) return c.redirect(`/auth/login?rd=${encodeURIComponent(`/auth/connect/${id}`)}`, 302);
    const server = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) =>
      (await perUserServers(sql, who.email)).find((s) => s.id === id),
    );
    if (!server) return notFound(c, id);
    if (server.credentials!.mode === "per-user-token") {
      const token = await formToken(env.IDENTITY_SECRET, who.email);
      return c.html(
        page(
          `Connect ${id}`,
          `<h1>Connect ${esc(id)}</h1><p>Paste your personal access token for ${esc(id)}. It is stored encrypted and sent only with your own requests to this server.</p>
<form method="post" action="/auth/connect/${esc(id)}"><input type="hidden" name="${FORM_FIELD}" value="${esc(token)}"><label>Token <input name="token" type="password" autocomplete="off" required></label> <button type="submit">Save</button></form>`,
        ),
      );
    }
    let client: OAuthClient;
    try {
      client = await oauthClient(env, server);
    } catch (err) {
      if (!(err instanceof OAuthClientError)) throw err;
      log.warn("upstream oauth discovery failed", { server: id, message: err.message });
      return c.json(
        { error: "oauth_unavailable", message: `the authorization server of ${id} cannot be used: ${err.message}` },
        502,
      );
    }
    const st = {
      state: randomToken(32),
      verifier: randomToken(48),
      server: id,
      email: who.email.toLowerCase(),
      exp: now() + STATE_TTL,
    };
    c.header(
      "Set-Cookie",
      setCookie(stateCookieName(st.state), await sealCookie(st, cookieSecret(env), STATE_PURPOSE), {
        maxAge: STATE_TTL,
        path: CALLBACK_PATH,
        secure: secureCookies(origin),
      }),
      { append: true },
    );
    return c.redirect(
      await authorizeUrl(client, { redirectUri: origin + CALLBACK_PATH, state: st.state, verifier: st.verifier }),
      302,
    );
  });

  app.get(CALLBACK_PATH, async (c) => {
    const { env, origin } = settings(c);
    c.header("Cache-Control", "no-store");
    const state = c.req.query("state") ?? "";
    if (!/^[A-Za-z0-9_-]{32,128}$/.test(state))
      return c.json({ error: "invalid_state", message: "missing or malformed state" }, 400);
    const name = stateCookieName(state);
    c.header("Set-Cookie", clearCookie(name, { path: CALLBACK_PATH, secure: secureCookies(origin) }), { append: true });
    const parsed = ConnectState.safeParse(
      await unsealCookie(readCookie(c.req.header("cookie"), name), cookieSecret(env), STATE_PURPOSE),
    );
    if (!parsed.success || !timingSafeEqual(parsed.data.state, state) || parsed.data.exp < now())
      return c.json(
        { error: "invalid_state", message: "the connect state is unknown, expired or does not match; start again" },
        400,
      );
    const st = parsed.data;
    // the browser that started must still be the same user
    const who = await caller(c, env, origin);
    if (!who || who.email.toLowerCase() !== st.email)
      return c.json(
        { error: "invalid_state", message: "signed in as someone else than the user who started connecting" },
        400,
      );
    const fresh = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) =>
      consumeLoginState(sql, await sha256Hex(`connect|${st.state}`), new Date((st.exp + 60) * 1000)),
    );
    if (!fresh) return c.json({ error: "invalid_state", message: "this connect state was already used" }, 400);
    const asError = c.req.query("error");
    if (asError)
      return c.html(
        page(
          "Not connected",
          `<h1>Not connected</h1><p>The authorization server answered: ${esc(asError.slice(0, 64))}.</p><p><a href="/auth/connect/${esc(st.server)}">Try again</a></p>`,
        ),
        400,
      );
    const code = c.req.query("code");
    if (!code) return c.json({ error: "invalid_request", message: "missing code" }, 400);
    const result = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => {
      const server = (await perUserServers(sql, st.email)).find((s) => s.id === st.server);
      if (!server || server.credentials!.mode !== "per-user-oauth") return { error: "not_found" as const };
      try {
        const client = await oauthClient(env, server);
        const tokens = await exchangeCode(client, code, st.verifier, origin + CALLBACK_PATH);
        await saveConnection(sql, await keyRing(env), st.email, server.id, {
          kind: "oauth",
          access: tokens.access_token,
          refresh: tokens.refresh_token ?? null,
          tokenEndpoint: client.tokenEndpoint,
          scope: tokens.scope ?? client.scopes,
          expiresIn: tokens.expires_in ?? null,
        });
        return { ok: true as const };
      } catch (err) {
        if (!(err instanceof OAuthClientError)) throw err;
        log.warn("upstream oauth code exchange failed", { server: server.id, message: err.message });
        return { error: "exchange" as const, message: err.message };
      }
    });
    if ("error" in result)
      return result.error === "not_found"
        ? notFound(c, st.server)
        : c.json({ error: "oauth_failed", message: result.message }, 502);
    log.info("connection saved", { email: st.email, server: st.server, kind: "oauth" });
    return c.html(
      page(
        "Connected",
        `<h1>Connected</h1><p id="connected">Your account is connected to <strong>${esc(st.server)}</strong>. You can close this page and retry in your chat.</p><p><a href="/auth/connections">My connections</a></p>`,
      ),
    );
  });
}
