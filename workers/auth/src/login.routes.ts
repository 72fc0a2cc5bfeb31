/**
 * Browser login with OpenID Connect (authorization code flow, PKCE S256, state, nonce):
 * - `GET /auth/login?rd=<path or URL>`: checks the return address, keeps state, PKCE verifier,
 *   nonce and rd in a 10-minute encrypted cookie, and sends the browser to the provider;
 * - `GET /auth/callback`: the state must match its cookie and be unused (single use, in Postgres),
 *   exchanges the code, validates the ID token (JWKS, issuer, audience, nonce, expiry), creates
 *   the user on first login, records the login and sets the session cookie;
 * - `GET /auth/refresh?rd=`: renews the session with the provider's refresh token (else logs in again);
 * - `POST /auth/logout` (same origin, with the sign-out form's token, shared/logout.token.ts):
 *   revokes the session, clears the cookie and logs out at the provider when it advertises
 *   `end_session_endpoint`; `GET /auth/logout` only shows that form (a GET signs nobody out);
 * - `GET /auth/me`: who the caller is (JSON), refreshing a due session.
 */
import type { Context, Hono } from "hono";
import { z } from "zod";
import { createSql, withSql } from "../../../shared/db";
import { randomToken, sha256Hex, timingSafeEqual } from "../../../shared/crypto";
import { readEnv } from "../../../shared/env";
import { log } from "../../../shared/log";
import { LOGOUT_FIELD, logoutToken, verifyLogoutToken } from "../../../shared/logout.token";
import { insertAuthEvent, insertRefusedCredential } from "../../../shared/repos/audit.repo";
import { REFUSED_PER_MINUTE } from "./auth.audit";
import {
  consumeLoginState,
  recordLogin,
  revokeSession,
  syncIdpGroups,
  userFacts,
} from "../../../shared/repos/sessions.repo";
import { ADMIN_GROUP } from "../../../shared/schemas";
import { readCookie, clearCookie, sealCookie, setCookie, unsealCookie } from "./cookie";
import { toIdentity } from "./credentials";
import { AuthEnv } from "./env";
import {
  authorizationUrl,
  discover,
  emailFromClaims,
  exchangeLoginCode,
  groupsFromClaims,
  OidcError,
  oidcConfig,
  refreshTokens,
  userinfo,
  verifyProviderJwt,
  type OidcConfig,
  type TokenResponse,
} from "./oidc.client";
import {
  clearSessionCookie,
  cookieSecret,
  publicOrigin,
  readSession,
  safeReturnTo,
  secureCookies,
  sessionCookie,
  type Session,
} from "./session";
import { identify } from "./verify.routes";
import { esc, page } from "./page";

type App = Hono<{ Bindings: Record<string, unknown> }>;
type Ctx = Context<{ Bindings: Record<string, unknown> }>;

const STATE_PURPOSE = "login-state/v1";
const STATE_TTL = 600;
const CALLBACK_PATH = "/auth/callback";
const stateCookieName = (state: string) => `mcpgw_login_${state.slice(0, 16)}`;

const LoginState = z.object({
  state: z.string(),
  verifier: z.string(),
  nonce: z.string(),
  rd: z.string(),
  exp: z.number(),
});

const now = () => Math.floor(Date.now() / 1000);

/** The sign-out form for `email` (what the admin UI renders too). */
async function logoutForm(env: AuthEnv, email: string): Promise<string> {
  return `<form method="post" action="/auth/logout"><input type="hidden" name="${LOGOUT_FIELD}" value="${esc(await logoutToken(env.IDENTITY_SECRET, email))}"><button type="submit">Sign out</button></form>`;
}

/** Whether an unsafe request comes from the public origin: `Origin` (when sent) equal to it, no cross-site `Sec-Fetch-Site`. */
function sameOrigin(c: Ctx, origin: string): boolean {
  const o = c.req.header("origin");
  if (o !== undefined && o !== origin) return false;
  const site = c.req.header("sec-fetch-site");
  return !(site && site !== "same-origin" && site !== "none");
}

function settings(c: Ctx): { env: AuthEnv; origin: string; cfg: OidcConfig | null } {
  const env = readEnv(AuthEnv, c.env);
  return { env, origin: publicOrigin(env), cfg: oidcConfig(env) };
}

function notConfigured(c: Ctx) {
  return c.json(
    {
      error: "oidc_not_configured",
      message: "browser login needs OIDC_ISSUER and OIDC_CLIENT_ID; use an API key instead",
    },
    503,
  );
}

function idpError(c: Ctx, err: unknown) {
  if (err instanceof OidcError) {
    log.warn("oidc_error", { code: err.code, message: err.message });
    return c.json({ error: err.code, message: err.message }, err.code === "token_error" ? 401 : 502);
  }
  throw err;
}

/** Builds a session from a token answer: validated ID token (or, on refresh, the previous session's user). */
async function sessionFromTokens(
  env: AuthEnv,
  cfg: OidcConfig,
  tokens: TokenResponse,
  opts: { nonce?: string; previous?: Session },
): Promise<Session | null> {
  let claims: Record<string, unknown> = {};
  if (tokens.id_token) {
    const verified = await verifyProviderJwt(cfg, tokens.id_token, [cfg.clientId], { nonce: opts.nonce });
    if (!verified) return null;
    if (Array.isArray(verified.aud) && verified.aud.length > 1 && verified.azp !== cfg.clientId) return null;
    claims = verified;
  } else if (!opts.previous) return null; // a login must give an ID token
  // the e-mail and its email_verified come as a pair from one source: the ID token, else userinfo
  let found = emailFromClaims(claims, cfg);
  if ((!found || claims[cfg.groupsClaim] === undefined) && tokens.access_token) {
    const info = await userinfo(cfg, tokens.access_token).catch(() => null);
    if (info && (claims.sub === undefined || info.sub === claims.sub)) {
      found ??= emailFromClaims(info, cfg);
      claims = { ...info, ...claims, [cfg.groupsClaim]: claims[cfg.groupsClaim] ?? info[cfg.groupsClaim] };
    }
  }
  const email = found ?? opts.previous?.email;
  if (!email) return null;
  if (opts.previous && email !== opts.previous.email) return null;
  const t = now();
  const iat = opts.previous?.iat ?? t;
  const hardEnd = iat + env.SESSION_MAX_AGE;
  const tokenExp = tokens.expires_in ? t + tokens.expires_in : typeof claims.exp === "number" ? claims.exp : t + 600;
  const rt = tokens.refresh_token ?? opts.previous?.rt;
  return {
    sid: opts.previous?.sid ?? randomToken(16),
    email,
    name: typeof claims.name === "string" ? claims.name : (opts.previous?.name ?? ""),
    groups:
      claims[cfg.groupsClaim] !== undefined ? groupsFromClaims(claims, cfg.groupsClaim) : (opts.previous?.groups ?? []),
    iat,
    // without a refresh token the session ends with the provider's tokens: log in again
    exp: rt ? hardEnd : Math.min(hardEnd, Math.max(tokenExp, t + 60)),
    refreshAt: Math.min(tokenExp, hardEnd),
    ...(rt ? { rt } : {}),
  };
}

/** Renews a session at the provider; null when it refuses (log in again). */
async function refreshSession(env: AuthEnv, cfg: OidcConfig, s: Session): Promise<Session | null> {
  if (!s.rt) return null;
  try {
    const tokens = await refreshTokens(cfg, s.rt);
    return await sessionFromTokens(env, cfg, tokens, { previous: s });
  } catch (err) {
    if (err instanceof OidcError) return null;
    throw err;
  }
}

export function registerLoginRoutes(app: App) {
  app.get("/auth/login", async (c) => {
    const { env, origin, cfg } = settings(c);
    const rd = safeReturnTo(env, origin, c.req.query("rd"));
    if (!rd)
      return c.json(
        { error: "invalid_redirect", message: "rd must be a path on this site or a URL on an allowed host" },
        400,
      );
    if (!cfg) return notConfigured(c);
    const state = randomToken(32);
    const verifier = randomToken(48);
    const nonce = randomToken(24);
    let location: string;
    try {
      location = await authorizationUrl(cfg, { redirectUri: origin + CALLBACK_PATH, state, nonce, verifier });
    } catch (err) {
      return idpError(c, err);
    }
    const sealed = await sealCookie(
      { state, verifier, nonce, rd, exp: now() + STATE_TTL },
      cookieSecret(env),
      STATE_PURPOSE,
    );
    c.header(
      "Set-Cookie",
      setCookie(stateCookieName(state), sealed, {
        maxAge: STATE_TTL,
        path: CALLBACK_PATH,
        secure: secureCookies(origin),
      }),
      { append: true },
    );
    c.header("Cache-Control", "no-store");
    return c.redirect(location, 302);
  });

  /**
   * A sign-in that failed after a valid, unused login state (the provider's error, a code it would
   * not exchange, an ID token that does not hold): in the audit log as `login.refused` with the
   * reason, bounded like refused credentials (auth.audit.ts). Never throws.
   */
  const refused = async (c: Ctx, reason: string) => {
    const { env } = settings(c);
    try {
      await withSql(env.DATABASE_URL, c.executionCtx, (sql) =>
        insertRefusedCredential(
          sql,
          {
            actor: "(unknown)",
            action: "login.refused",
            outcome: "refused",
            detail: { via: "oidc", reason: reason.slice(0, 200) },
          },
          REFUSED_PER_MINUTE,
        ),
      );
    } catch (err) {
      log.warn("audit of a failed sign-in failed", { message: String((err as Error)?.message ?? err) });
    }
  };

  app.get(CALLBACK_PATH, async (c) => {
    const { env, origin, cfg } = settings(c);
    if (!cfg) return notConfigured(c);
    const state = c.req.query("state") ?? "";
    const code = c.req.query("code");
    const idpErr = c.req.query("error");
    if (!/^[A-Za-z0-9_-]{32,128}$/.test(state))
      return c.json({ error: "invalid_state", message: "missing or malformed state" }, 400);
    const cookieName = stateCookieName(state);
    c.header("Set-Cookie", clearCookie(cookieName, { path: CALLBACK_PATH, secure: secureCookies(origin) }), {
      append: true,
    });
    const parsed = LoginState.safeParse(
      await unsealCookie(readCookie(c.req.header("cookie"), cookieName), cookieSecret(env), STATE_PURPOSE),
    );
    if (!parsed.success || !timingSafeEqual(parsed.data.state, state) || parsed.data.exp < now()) {
      return c.json(
        {
          error: "invalid_state",
          message: "the login state is unknown, expired or does not match; start again at /auth/login",
        },
        400,
      );
    }
    const ls = parsed.data;
    const fresh = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) =>
      consumeLoginState(sql, await sha256Hex(ls.state), new Date((ls.exp + 60) * 1000)),
    );
    if (!fresh) return c.json({ error: "invalid_state", message: "this login state was already used" }, 400);
    if (idpErr) {
      await refused(c, `the identity provider answered: ${idpErr}`);
      return c.json({ error: "login_failed", message: `the identity provider answered: ${idpErr}` }, 401);
    }
    if (!code) {
      await refused(c, "missing code");
      return c.json({ error: "invalid_request", message: "missing code" }, 400);
    }
    let session: Session | null;
    try {
      const tokens = await exchangeLoginCode(cfg, code, ls.verifier, origin + CALLBACK_PATH);
      session = await sessionFromTokens(env, cfg, tokens, { nonce: ls.nonce });
    } catch (err) {
      await refused(c, `the code exchange or ID token check failed: ${(err as { code?: string }).code ?? "error"}`);
      return idpError(c, err);
    }
    if (!session) {
      await refused(c, "the ID token is not valid or names no (verified) e-mail");
      return c.json(
        { error: "login_failed", message: "the identity provider's ID token is not valid or names no email" },
        401,
      );
    }
    const s = session;
    const facts = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => {
      const synced = await syncIdpGroups(sql, await recordLogin(sql, s.email, s.name), s.groups, ADMIN_GROUP);
      await insertAuthEvent(sql, {
        actor: s.email.toLowerCase(),
        action: "login",
        outcome: "ok",
        detail: { via: "oidc", admin: toIdentity(synced, s.groups, "session").admin },
      });
      return synced;
    });
    log.info("login", { email: s.email, admin: toIdentity(facts, s.groups, "session").admin });
    c.header("Set-Cookie", await sessionCookie(env, origin, s), { append: true });
    c.header("Cache-Control", "no-store");
    return c.redirect(ls.rd, 302);
  });

  app.get("/auth/refresh", async (c) => {
    const { env, origin, cfg } = settings(c);
    const rd = safeReturnTo(env, origin, c.req.query("rd"));
    if (!rd)
      return c.json(
        { error: "invalid_redirect", message: "rd must be a path on this site or a URL on an allowed host" },
        400,
      );
    if (!cfg) return notConfigured(c);
    const current = await readSession(env, c.req.header("cookie"));
    const renewed = current ? await refreshSession(env, cfg, current) : null;
    if (!renewed) return c.redirect(`${origin}/auth/login?rd=${encodeURIComponent(rd)}`, 302);
    const known = await withSql(env.DATABASE_URL, c.executionCtx, async (sql) => {
      const facts = await userFacts(sql, renewed.email, renewed.sid);
      return facts ? !!(await syncIdpGroups(sql, facts, renewed.groups, ADMIN_GROUP)) : false;
    });
    if (!known) return c.redirect(`${origin}/auth/login?rd=${encodeURIComponent(rd)}`, 302);
    c.header("Set-Cookie", await sessionCookie(env, origin, renewed), { append: true });
    c.header("Cache-Control", "no-store");
    return c.redirect(rd, 302);
  });

  // Sign-out is POST only, with the form's token (shared/logout.token.ts, bound to the user) and
  // an Origin check: a cross-site page or a GET (a link, an <img>) signs nobody out.
  app.get("/auth/logout", async (c) => {
    const { env } = settings(c);
    const current = await readSession(env, c.req.header("cookie"));
    c.header("Cache-Control", "no-store");
    if (!current)
      return c.html(page("Signed out", `<h1>You are not signed in</h1><p><a href="/auth/login">Sign in</a></p>`));
    return c.html(
      page(
        "Sign out",
        `<h1>Sign out</h1><p>Signed in as ${esc(current.email)}.</p>${await logoutForm(env, current.email)}`,
      ),
    );
  });

  app.post("/auth/logout", async (c) => {
    const { env, origin, cfg } = settings(c);
    c.header("Cache-Control", "no-store");
    const current = await readSession(env, c.req.header("cookie"));
    if (!current) {
      // nothing to end here; clearing a cookie that is not there changes nothing
      c.header("Set-Cookie", clearSessionCookie(origin), { append: true });
      return c.redirect(`${origin}/auth/logged-out`, 303);
    }
    const sameSite = sameOrigin(c, origin);
    const type = c.req.header("content-type") ?? "";
    const form = /^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)
      ? await c.req.parseBody()
      : {};
    if (!sameSite || !(await verifyLogoutToken(env.IDENTITY_SECRET, current.email, form[LOGOUT_FIELD]))) {
      log.warn("logout_refused", { reason: sameSite ? "token" : "origin" });
      return c.html(
        page(
          "Sign out",
          `<h1>Sign out</h1><p>The sign-out form had expired or came from another site. Sign out here:</p>${await logoutForm(env, current.email)}`,
        ),
        403,
      );
    }
    const sql = createSql(env.DATABASE_URL);
    try {
      await revokeSession(sql, current.sid, new Date(current.exp * 1000));
      await insertAuthEvent(sql, {
        actor: current.email.toLowerCase(),
        action: "logout",
        outcome: "ok",
        detail: { via: "session" },
      });
    } finally {
      c.executionCtx.waitUntil(sql.end({ timeout: 5 }).catch(() => {}));
    }
    log.info("logout", { email: current.email });
    c.header("Set-Cookie", clearSessionCookie(origin), { append: true });
    if (cfg) {
      const doc = await discover(cfg.issuer).catch(() => null);
      if (doc?.end_session_endpoint) {
        const url = new URL(doc.end_session_endpoint);
        url.searchParams.set("client_id", cfg.clientId);
        url.searchParams.set("post_logout_redirect_uri", `${origin}/auth/logged-out`);
        // a page, not a redirect: the form that posted here may carry `form-action 'self'` (the
        // admin UI's CSP), which browsers apply to a redirect after the post as well
        const to = esc(url.toString());
        return c.html(
          page(
            "Signing out",
            `<meta http-equiv="refresh" content="0;url=${to}"><h1>Signed out here</h1><p><a id="idp-logout" href="${to}">Sign out at the identity provider too</a></p>`,
          ),
        );
      }
    }
    return c.redirect(`${origin}/auth/logged-out`, 303);
  });

  app.get("/auth/logged-out", (c) =>
    c.html(
      page(
        "Signed out",
        `<h1>Signed out</h1><p>You are signed out of the gateway. API keys you issued keep working until you revoke them.</p><p><a class="button" href="/auth/login?rd=%2Fadmin">Sign in again</a></p>`,
      ),
    ),
  );

  app.get("/auth/me", async (c) => {
    const { env, origin, cfg } = settings(c);
    c.header("Cache-Control", "no-store");
    const current = await readSession(env, c.req.header("cookie"));
    if (current && cfg && current.refreshAt <= now()) {
      const renewed = await refreshSession(env, cfg, current);
      if (renewed) c.header("Set-Cookie", await sessionCookie(env, origin, renewed), { append: true });
    }
    const { identity } = await identify(c, env, origin, "/auth/me");
    if (!identity)
      return c.json({ error: "unauthenticated", message: "not logged in", login: `${origin}/auth/login` }, 401);
    return c.json({
      email: identity.email,
      groups: identity.groups,
      admin: identity.admin,
      via: identity.via,
      ...(identity.via === "session" && current
        ? { name: current.name, expiresAt: new Date(current.exp * 1000).toISOString() }
        : {}),
      logout: `${origin}/auth/logout`,
    });
  });
}
