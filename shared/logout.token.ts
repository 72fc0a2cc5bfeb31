/**
 * The sign-out form's CSRF token, shared by the admin UI (which renders the form) and the auth
 * worker (which checks it on `POST /auth/logout`): `<exp>.<HMAC-SHA256(IDENTITY_SECRET,
 * "logout/v1|" + email + "|" + exp)>`, bound to the signed-in user and valid for
 * {@link LOGOUT_TOKEN_TTL_SECONDS}. A cross-site page cannot compute it, so it cannot sign anyone out.
 */
import { timingSafeEqual } from "./crypto";

/** The form field that carries the token. */
export const LOGOUT_FIELD = "_logout";
/** How long a rendered sign-out form stays usable. Default 12 h (a browser session's longest life). */
export const LOGOUT_TOKEN_TTL_SECONDS = 43_200;

const enc = new TextEncoder();

async function mac(secret: string, email: string, exp: number): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const sig = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, enc.encode(`logout/v1|${email.toLowerCase()}|${exp}`)),
  );
  let s = "";
  for (const b of sig) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A sign-out token for `email` (epoch seconds `now`). */
export async function logoutToken(secret: string, email: string, now = Math.floor(Date.now() / 1000)): Promise<string> {
  const exp = now + LOGOUT_TOKEN_TTL_SECONDS;
  return `${exp}.${await mac(secret, email, exp)}`;
}

/** Whether `token` is a live sign-out token for `email`. */
export async function verifyLogoutToken(
  secret: string,
  email: string,
  token: unknown,
  now = Math.floor(Date.now() / 1000),
): Promise<boolean> {
  if (typeof token !== "string" || token.length > 200) return false;
  const m = token.match(/^(\d{1,12})\.([A-Za-z0-9_-]{43})$/);
  if (!m) return false;
  const exp = Number(m[1]);
  if (exp < now || exp > now + LOGOUT_TOKEN_TTL_SECONDS) return false;
  return timingSafeEqual(m[2]!, await mac(secret, email, exp));
}
