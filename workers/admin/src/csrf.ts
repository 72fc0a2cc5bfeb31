/**
 * CSRF protection for the UI's forms: a signed double-submit token bound to the identity.
 * A random nonce lives in an HttpOnly, SameSite=Strict cookie; each form carries
 * `nonce.HMAC(IDENTITY_SECRET, "admin-csrf|" + email + "|" + nonce)`. A post is accepted only
 * when the form's nonce equals the cookie's and the MAC matches the caller's identity, on top of
 * the Origin check (admin.middleware.ts).
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { randomToken, timingSafeEqual } from "../../../shared/crypto";
import { readEnv } from "../../../shared/env";
import { logoutToken } from "../../../shared/logout.token";
import { AdminEnv } from "./env";
import type { AdminApp } from "./app";
import { Forbidden } from "./errors";
import { secureOrigin } from "./admin.middleware";

export const CSRF_COOKIE = "admin_csrf";
export const CSRF_FIELD = "_csrf";
const enc = new TextEncoder();
const HMAC_SHA256 = { name: "HMAC", hash: "SHA-256" };

async function mac(secret: string, email: string, nonce: string): Promise<string> {
  // Stryker disable next-line BooleanLiteral: equivalent, the key never leaves this function (README, Mutation testing)
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), HMAC_SHA256, false, ["sign"]);
  const sig = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, enc.encode(`admin-csrf|${email.toLowerCase()}|${nonce}`)),
  );
  let s = "";
  for (const b of sig) s += String.fromCharCode(b);
  const b64 = btoa(s).replace(/\+/g, "-").replace(/\//g, "_");
  // Stryker disable next-line Regex: equivalent, an HMAC-SHA256 is 32 bytes, so exactly one "=" ends its base64
  return b64.replace(/=+$/, "");
}

const NONCE = /^[A-Za-z0-9_-]{22,64}$/;

/** The token for this request's forms; sets the nonce cookie when missing. */
export async function issueCsrfToken(c: Context<AdminApp>): Promise<string> {
  const env = readEnv(AdminEnv, c.env);
  let nonce = getCookie(c, CSRF_COOKIE);
  if (!nonce || !NONCE.test(nonce)) {
    nonce = randomToken(24);
    setCookie(c, CSRF_COOKIE, nonce, { path: "/admin", httpOnly: true, sameSite: "Strict", secure: secureOrigin(c) });
  }
  return `${nonce}.${await mac(env.IDENTITY_SECRET, c.get("identity").email, nonce)}`;
}

/** Whether a submitted token is valid for this caller and cookie. */
export async function verifyCsrfToken(c: Context<AdminApp>, token: unknown): Promise<boolean> {
  if (typeof token !== "string") return false;
  const [nonce, sig] = token.split(".");
  const cookie = getCookie(c, CSRF_COOKIE);
  // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent, a missing part also fails the checks below
  if (!nonce || !sig || !cookie) return false;
  if (!NONCE.test(nonce) || !timingSafeEqual(nonce, cookie)) return false;
  const env = readEnv(AdminEnv, c.env);
  return timingSafeEqual(sig, await mac(env.IDENTITY_SECRET, c.get("identity").email, nonce));
}

/** UI middleware: issues a token for pages, requires a valid one on every form post. */
export function csrfProtection(): MiddlewareHandler<AdminApp> {
  return async function csrfMiddleware(c, next) {
    // every page's header carries the sign-out form (POST /auth/logout checks this token)
    c.set("logoutToken", await logoutToken(readEnv(AdminEnv, c.env).IDENTITY_SECRET, c.get("identity").email));
    // Stryker disable next-line Regex: equivalent, workerd accepts only the standard methods (none contains GET or HEAD)
    if (/^(GET|HEAD)$/.test(c.req.method)) {
      c.set("csrfToken", await issueCsrfToken(c));
      return next();
    }
    const type = c.req.header("content-type") ?? "";
    const form = /^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)
      ? await c.req.parseBody({ all: true })
      : {};
    if (!(await verifyCsrfToken(c, form[CSRF_FIELD]))) {
      throw new Forbidden(
        "invalid or missing CSRF token",
        "The form had expired or did not come from this site. Reload the page and try again.",
      );
    }
    c.set("csrfToken", await issueCsrfToken(c));
    return next();
  };
}
