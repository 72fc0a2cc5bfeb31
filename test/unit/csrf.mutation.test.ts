// The admin UI's CSRF defence (workers/admin/src/csrf.ts) through a Hono app with the real
// middleware: the token is computed here independently (HMAC-SHA256 over the documented input)
// so the MAC's key, label, identity binding and encoding are all checked, as is every refusal.
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AdminApp } from "../../workers/admin/src/app";
import { CSRF_COOKIE, CSRF_FIELD, csrfProtection } from "../../workers/admin/src/csrf";
import { adminOnError } from "../../workers/admin/src/error-handler";
import { verifyLogoutToken } from "../../shared/logout.token";

const IDENTITY_SECRET = "unit-test-identity-secret-0123456789abcdef";
const bindings = (publicUrl = "https://gw.example.com") => ({
  DATABASE_URL: "postgres://x@127.0.0.1/db",
  IDENTITY_SECRET,
  SERVICE_SECRET: "unit-test-service-secret-0123456789abcdef",
  SECRETS_KEY: "unit-test-secrets-key-0123456789abcdefgh",
  PUBLIC_URL: publicUrl,
});
const httpsEnv = bindings();
const httpEnv = bindings("http://localhost:8080");

function app() {
  const a = new Hono<AdminApp>();
  a.use("*", async (c, next) => {
    c.set("identity", {
      email: c.req.header("x-test-user") ?? "Admin@Example.com",
      groups: [],
      admin: true,
      via: "session",
    });
    await next();
  });
  a.use("*", csrfProtection());
  a.all("/admin/ui", (c) => c.json({ csrf: c.get("csrfToken") ?? null, logout: c.get("logoutToken") ?? null }));
  // the guard throws Forbidden; the worker's onError renders it (the 403 page here)
  a.onError(adminOnError);
  return a;
}

/** The token the documented construction gives: nonce "." base64url(HMAC(IDENTITY_SECRET, "admin-csrf|" + lower(email) + "|" + nonce)). */
async function expectedToken(email: string, nonce: string, secret = IDENTITY_SECRET): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sig = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`admin-csrf|${email.toLowerCase()}|${nonce}`)),
  );
  return `${nonce}.${Buffer.from(sig).toString("base64url")}`;
}

const NONCE = "n".repeat(22);
const page = async (a: Hono<AdminApp>, cookie?: string, env = httpsEnv, method = "GET") =>
  a.request("/admin/ui", { method, headers: cookie ? { cookie: `${CSRF_COOKIE}=${cookie}` } : {} }, env);
const post = (
  a: Hono<AdminApp>,
  body: string | FormData | null,
  opts: { cookie?: string; type?: string; user?: string } = {},
) => {
  const headers: Record<string, string> = {};
  if (opts.cookie) headers.cookie = `${CSRF_COOKIE}=${opts.cookie}`;
  if (opts.type) headers["content-type"] = opts.type;
  if (opts.user) headers["x-test-user"] = opts.user;
  return a.request("/admin/ui", { method: "POST", headers, body }, httpsEnv);
};
// the field's name as the forms send it (not the constant: a changed constant must fail here)
const form = (token: string) => `_csrf=${encodeURIComponent(token)}&name=x`;
const FORM = "application/x-www-form-urlencoded";

describe("CSRF tokens: issuing", () => {
  it("sets a Strict, HttpOnly, /admin-scoped nonce cookie (Secure on https) and binds the token to it and the user", async () => {
    const a = app();
    const res = await page(a);
    const set = res.headers.get("set-cookie")!;
    expect(set).toMatch(new RegExp(`^${CSRF_COOKIE}=[A-Za-z0-9_-]{32};`));
    expect(set).toContain("Path=/admin");
    expect(set).toContain("HttpOnly");
    expect(set).toContain("SameSite=Strict");
    expect(set).toContain("Secure");
    const nonce = set.split(";")[0]!.split("=")[1]!;
    const { csrf, logout } = (await res.json()) as { csrf: string; logout: string };
    expect(csrf).toBe(await expectedToken("admin@example.com", nonce));
    // the sign-out form's token for the same user
    expect(await verifyLogoutToken(IDENTITY_SECRET, "admin@example.com", logout)).toBe(true);
    expect((await page(a, undefined, httpEnv)).headers.get("set-cookie")).not.toContain("Secure");
  });

  it("keeps a well-formed nonce cookie (22 to 64 characters) and replaces any other", async () => {
    const a = app();
    for (const n of [NONCE, "a".repeat(64), "A-_9".repeat(6)]) {
      const res = await page(a, n);
      expect(res.headers.get("set-cookie")).toBeNull();
      expect(((await res.json()) as { csrf: string }).csrf).toBe(await expectedToken("admin@example.com", n));
    }
    for (const n of ["n".repeat(21), "a".repeat(65), "n".repeat(21) + "!", "!" + "n".repeat(22)]) {
      const res = await page(a, n);
      expect(res.headers.get("set-cookie")).toMatch(new RegExp(`^${CSRF_COOKIE}=`));
      expect(((await res.json()) as { csrf: string }).csrf.startsWith(n + ".")).toBe(false);
    }
  });

  it("issues tokens on HEAD too", async () => {
    const res = await page(app(), undefined, httpsEnv, "HEAD");
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toMatch(new RegExp(`^${CSRF_COOKIE}=`));
  });
});

describe("CSRF tokens: checking form posts", () => {
  it("accepts the caller's own token with its cookie (urlencoded and multipart), and issues the next", async () => {
    const a = app();
    const token = await expectedToken("admin@example.com", NONCE);
    const ok = await post(a, form(token), { cookie: NONCE, type: FORM });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { csrf: string }).csrf).toBe(token);
    const fd = new FormData();
    fd.set("_csrf", token);
    expect(
      (
        await a.request(
          "/admin/ui",
          { method: "POST", headers: { cookie: `${CSRF_COOKIE}=${NONCE}` }, body: fd },
          httpsEnv,
        )
      ).status,
    ).toBe(200);
    expect(
      (await post(a, form(token), { cookie: NONCE, type: "Application/X-WWW-Form-Urlencoded; charset=utf-8" })).status,
    ).toBe(200);
    // the e-mail binding is case-insensitive
    expect((await post(a, form(token), { cookie: NONCE, type: FORM, user: "ADMIN@example.COM" })).status).toBe(200);
  });

  it("refuses with 403 and a page saying why: no token, no cookie, another cookie, another user, another key", async () => {
    const a = app();
    const token = await expectedToken("admin@example.com", NONCE);
    const refused = [
      await post(a, "name=x", { cookie: NONCE, type: FORM }),
      await post(a, form(token), { type: FORM }),
      await post(a, form(token), { cookie: "m".repeat(22), type: FORM }),
      await post(a, form(token), { cookie: NONCE, type: FORM, user: "other@example.com" }),
      await post(a, form(await expectedToken("admin@example.com", NONCE, IDENTITY_SECRET + "x")), {
        cookie: NONCE,
        type: FORM,
      }),
      await post(a, form(NONCE), { cookie: NONCE, type: FORM }),
      await post(a, form(`${NONCE}.`), { cookie: NONCE, type: FORM }),
      await post(a, form(`.${token.split(".")[1]}`), { cookie: NONCE, type: FORM }),
      await post(a, form(token.slice(0, -1)), { cookie: NONCE, type: FORM }),
      await post(a, `${CSRF_FIELD}=${encodeURIComponent(token)}&${CSRF_FIELD}=${encodeURIComponent(token)}`, {
        cookie: NONCE,
        type: FORM,
      }),
      await post(a, JSON.stringify({ [CSRF_FIELD]: token }), { cookie: NONCE, type: "application/json" }),
      await post(a, form(token), { cookie: NONCE, type: "text/plain" }),
      await post(a, null, { cookie: NONCE }),
      // a form type named anywhere but at the start is not a form
      await post(a, form(token), { cookie: NONCE, type: "text/plain; x=application/x-www-form-urlencoded" }),
    ];
    for (const r of refused) {
      expect(r.status).toBe(403);
      expect(await r.text()).toContain("The form had expired or did not come from this site");
    }
  });

  it("refuses a malformed nonce even when cookie and MAC agree", async () => {
    const a = app();
    for (const n of ["short", "n".repeat(65), "bad!" + "n".repeat(20)]) {
      expect((await post(a, form(await expectedToken("admin@example.com", n)), { cookie: n, type: FORM })).status).toBe(
        403,
      );
    }
  });
});
