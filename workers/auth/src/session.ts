/**
 * The browser session: an encrypted cookie (see cookie.ts) holding who logged in, the IdP's
 * groups, when it ends and when the tokens behind it need refreshing, plus the provider's refresh
 * token when there is one. Also the public-origin and return-address rules of the login.
 */
import { z } from "zod";
import { clearCookie, readCookie, sealCookie, setCookie, unsealCookie } from "./cookie";
import type { AuthEnv } from "./env";

export const SESSION_COOKIE = "mcpgw_session";
const SESSION_PURPOSE = "session/v1";

export const Session = z.object({
  /** Session id (revocable at logout). */
  sid: z.string(),
  email: z.string(),
  name: z.string(),
  /** Groups from the IdP's claim, merged with Postgres' at each request. */
  groups: z.array(z.string()),
  /** Epoch seconds: created, hard end, tokens due for refresh. */
  iat: z.number(),
  exp: z.number(),
  refreshAt: z.number(),
  /** The provider's refresh token, when it gave one. */
  rt: z.string().optional(),
});
export type Session = z.infer<typeof Session>;

/** The cookie key; without COOKIE_SECRET one is derived from IDENTITY_SECRET. */
export function cookieSecret(env: AuthEnv): string {
  return env.COOKIE_SECRET ?? `cookie:${env.IDENTITY_SECRET}`;
}

/** The public origin: PUBLIC_URL (required; never the client's own Host or X-Forwarded-Host). */
export function publicOrigin(env: AuthEnv): string {
  return env.PUBLIC_URL;
}

/** Cookies are Secure except on plain-http localhost. */
export function secureCookies(origin: string): boolean {
  const u = new URL(origin);
  return !(u.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(u.hostname));
}

/** Reads and checks the session cookie; null when absent, tampered with or past its end. */
export async function readSession(env: AuthEnv, cookieHeader: string | null | undefined): Promise<Session | null> {
  const raw = await unsealCookie(readCookie(cookieHeader, SESSION_COOKIE), cookieSecret(env), SESSION_PURPOSE);
  const parsed = Session.safeParse(raw);
  if (!parsed.success) return null;
  if (parsed.data.exp <= Math.floor(Date.now() / 1000)) return null;
  return parsed.data;
}

/** The Set-Cookie value for a session. */
export async function sessionCookie(env: AuthEnv, origin: string, s: Session): Promise<string> {
  const value = await sealCookie(s, cookieSecret(env), SESSION_PURPOSE);
  return setCookie(SESSION_COOKIE, value, {
    maxAge: s.exp - Math.floor(Date.now() / 1000),
    secure: secureCookies(origin),
  });
}

export function clearSessionCookie(origin: string): string {
  return clearCookie(SESSION_COOKIE, { secure: secureCookies(origin) });
}

/**
 * Checks an after-login return address. Accepts a path on this origin (`/x`, not `//x` or `/\x`)
 * or an absolute http(s) URL whose host is PUBLIC_URL's or in ALLOWED_REDIRECT_HOSTS. Returns
 * the absolute URL to go to, or null when refused.
 */
export function safeReturnTo(env: AuthEnv, origin: string, rd: string | undefined | null): string | null {
  if (rd === undefined || rd === null || rd === "") return `${origin}/`;
  // control characters and backslashes are never legitimate here and confuse URL parsers
  if (/[\u0000-\u001f\u007f\\]/.test(rd) || rd.length > 2048) return null;
  if (rd.startsWith("/")) {
    if (rd.startsWith("//")) return null;
    const url = new URL(rd, origin);
    return url.origin === new URL(origin).origin ? url.toString() : null;
  }
  let url: URL;
  try {
    url = new URL(rd);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  if (url.username || url.password) return null;
  const own = new URL(origin);
  const allowed = new Set([own.host.toLowerCase(), ...env.ALLOWED_REDIRECT_HOSTS.map((h) => h.toLowerCase())]);
  if (!allowed.has(url.host.toLowerCase()) && !allowed.has(url.hostname.toLowerCase())) return null;
  if (url.host.toLowerCase() === own.host.toLowerCase() && url.protocol !== own.protocol) return null;
  return url.toString();
}
