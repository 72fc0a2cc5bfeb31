/**
 * Browser login through the real stack: the local OIDC provider (oidc-provider), the auth worker
 * under workerd, the edge's forwardAuth and Postgres. Driven over HTTP with manual redirects.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "../harness/stack";
import { CookieJar, loginUntilCallback, step } from "../harness/login";
import { sealCookie, unsealCookie } from "../../workers/auth/src/cookie";

let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({
    idpUsers: [
      {
        email: "newcomer@example.com",
        name: "New Comer",
        password: "pw-newcomer",
        groups: ["MCP-Admin", "/Team-A", "not a group!"],
      },
    ],
  });
  await t.userKey("joelalama@google.com", { groups: ["google-users"] });
});
afterAll(() => t?.stop());

/** Follows a login from /auth/login with a browser's jar: "silent" when the provider still knows the user, "form" when it asks for the password. */
async function loginOutcome(jar: CookieJar): Promise<"silent" | "form"> {
  let url = `${t.url}/auth/login`;
  for (let i = 0; i < 15; i++) {
    if (url.startsWith(`${t.url}/auth/callback`)) return "silent";
    const res = await step(jar, url);
    const loc = res.headers.get("location");
    if (loc) {
      url = new URL(loc, url).toString();
      continue;
    }
    if ((await res.text()).includes('id="login"')) return "form";
    throw new Error(`login stopped at ${url} with ${res.status}`);
  }
  throw new Error("no outcome");
}

describe("browser login", () => {
  it("logs in, identifies the session at forwardAuth, answers /auth/me, and logs out", async () => {
    const login = await t.login("joelalama@google.com", { rd: "/admin/api/tenants" });
    expect(login.location).toBe(`${t.url}/admin/api/tenants`);
    // through the edge's forwardAuth step: the admin worker echoes the signed identity
    const who = await t.fetch("/admin/api/whoami", { headers: { cookie: login.cookie } });
    expect(who.status).toBe(200);
    expect(await who.json()).toMatchObject({
      email: "joelalama@google.com",
      groups: ["google-users"],
      admin: false,
      via: "session",
    });
    expect(
      (await t.fetch("/admin/api/tenants", { headers: { cookie: login.cookie, accept: "application/json" } })).status,
    ).toBe(403);
    const me = await t.fetch("/auth/me", { headers: { cookie: login.cookie } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({
      email: "joelalama@google.com",
      groups: ["google-users"],
      admin: false,
      via: "session",
    });
    const [row] = await t.db.sql`SELECT last_login_at FROM users WHERE email = 'joelalama@google.com'`;
    expect(row!.last_login_at).not.toBeNull();

    expect(await loginOutcome(login.jar)).toBe("silent"); // the provider still knows the browser

    // a GET only shows the sign-out form (a link or an <img> elsewhere signs nobody out)
    const confirmPage = await step(login.jar, `${t.url}/auth/logout`);
    expect(confirmPage.status).toBe(200);
    const logoutToken = (await confirmPage.text()).match(/name="_logout" value="([^"]+)"/)![1]!;
    expect((await t.fetch("/admin/api/whoami", { headers: { cookie: login.cookie } })).status).toBe(200);
    const post = (body: Record<string, string>, headers: Record<string, string> = {}) =>
      step(login.jar, `${t.url}/auth/logout`, {
        method: "POST",
        body: new URLSearchParams(body).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      });
    // a cross-site post (even with a stolen token), or one without the token, is refused
    expect((await post({ _logout: logoutToken }, { origin: "https://evil.example" })).status).toBe(403);
    expect((await post({ _logout: logoutToken }, { "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await post({})).status).toBe(403);
    expect((await post({ _logout: "1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })).status).toBe(403);
    expect(login.jar.get(t.url, "mcpgw_session")).toBeDefined();
    expect((await t.fetch("/admin/api/whoami", { headers: { cookie: login.cookie } })).status).toBe(200);
    // the form's own post, from this origin
    const out = await post({ _logout: logoutToken }, { origin: t.url });
    expect(out.status).toBe(200);
    const endSession = (await out.text()).match(/id="idp-logout" href="([^"]+)"/)![1]!.replace(/&#38;/g, "&");
    expect(endSession).toMatch(new RegExp(`^${t.idp!.issuer}/session/end\\?`));
    expect(login.jar.get(t.url, "mcpgw_session")).toBeUndefined();
    // RP-initiated logout at the provider: its confirmation form (auto-submitted in a browser)
    const confirm = await (await step(login.jar, endSession)).text();
    const action = confirm.match(/<form[^>]*action="([^"]+)"/)![1]!;
    const xsrf = confirm.match(/name="xsrf" value="([^"]+)"/)![1]!;
    const done = await step(login.jar, new URL(action, endSession).toString(), {
      method: "POST",
      body: new URLSearchParams({ xsrf, logout: "yes" }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toMatch(new RegExp(`^${t.url}/auth/logged-out`));
    expect(await loginOutcome(login.jar)).toBe("form"); // signed out at the provider too
    // the old cookie no longer works, even replayed by hand
    const after = await t.fetch("/admin/api/whoami", { headers: { cookie: login.cookie, accept: "application/json" } });
    expect(after.status).toBe(401);
  });

  it("creates the user on first login and merges the IdP's groups (mcp-admin makes an admin)", async () => {
    const login = await t.login("newcomer@example.com");
    expect(login.location).toBe(`${t.url}/`);
    const me = await (await t.fetch("/auth/me", { headers: { cookie: login.cookie } })).json();
    expect(me).toMatchObject({ email: "newcomer@example.com", groups: ["mcp-admin", "team-a"], admin: true });
    expect(
      (await t.fetch("/admin/api/tenants", { headers: { cookie: login.cookie, accept: "application/json" } })).status,
    ).toBe(200);
    const [row] = await t.db.sql`SELECT display_name, is_admin FROM users WHERE email = 'newcomer@example.com'`;
    expect(row).toMatchObject({ display_name: "New Comer", is_admin: false });
  });

  it("keeps IdP-sourced memberships of known groups in Postgres, in step with the IdP", async () => {
    await t.db.sql`INSERT INTO groups (name) VALUES ('team-b') ON CONFLICT DO NOTHING`;
    await t.userKey("miketest@microsoft.com", { groups: ["microsoft-users"] }); // set by an admin
    const mike = t.idp!.users.find((u) => u.email === "miketest@microsoft.com")!;
    const before = mike.groups;
    const rows = () =>
      t.db
        .sql`SELECT group_name, source FROM user_group_membership WHERE user_email = 'miketest@microsoft.com' ORDER BY group_name`;
    try {
      mike.groups = ["microsoft-users", "Team-B", "unknown-group"];
      await t.login("miketest@microsoft.com");
      expect(await rows()).toEqual([
        { group_name: "microsoft-users", source: "admin" },
        { group_name: "team-b", source: "idp" },
      ]);
      mike.groups = [];
      await t.login("miketest@microsoft.com");
      expect(await rows()).toEqual([{ group_name: "microsoft-users", source: "admin" }]);
    } finally {
      mike.groups = before;
    }
  });

  it("refuses a replayed state", async () => {
    const jar = new CookieJar();
    const callback = await loginUntilCallback(t.url, "miketest@microsoft.com", "demo", { jar });
    const name = `mcpgw_login_${new URL(callback).searchParams.get("state")!.slice(0, 16)}`;
    const stateCookie = `${name}=${jar.get(t.url, name)}`;
    const first = await fetch(callback, { headers: { cookie: stateCookie }, redirect: "manual" });
    expect(first.status).toBe(302);
    // the same callback again, with the genuine state cookie the browser had
    const replay = await fetch(callback, { headers: { cookie: stateCookie }, redirect: "manual" });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: "invalid_state", message: "this login state was already used" });
  });

  it("refuses a callback whose state does not match its cookie", async () => {
    const jar = new CookieJar();
    const callback = await loginUntilCallback(t.url, "miketest@microsoft.com", "demo", { jar });
    const url = new URL(callback);
    const state = url.searchParams.get("state")!;
    url.searchParams.set("state", state.slice(0, 16) + "A".repeat(state.length - 16));
    const res = await step(jar, url.toString());
    expect(res.status).toBe(400);
  });

  it("refuses return addresses to other hosts", async () => {
    for (const rd of [
      "https://evil.example/",
      "//evil.example/x",
      "/\\evil.example",
      "\\\\evil.example",
      "javascript:alert(1)",
      `http://${new URL(t.url).host}.evil.example/`,
    ]) {
      const res = await t.fetch(`/auth/login?rd=${encodeURIComponent(rd)}`);
      expect(res.status, rd).toBe(400);
    }
    const ok = await t.fetch(`/auth/login?rd=${encodeURIComponent(`${t.url}/admin`)}`);
    expect(ok.status).toBe(302);
  });

  it("refuses a tampered session cookie", async () => {
    const login = await t.login("miketest@microsoft.com");
    const value = login.cookie.slice("mcpgw_session=".length);
    const i = Math.floor(value.length / 2);
    const flipped = value.slice(0, i) + (value[i] === "A" ? "B" : "A") + value.slice(i + 1);
    const res = await t.fetch("/admin/api/tenants", {
      headers: { cookie: `mcpgw_session=${flipped}`, accept: "application/json" },
    });
    expect(res.status).toBe(401);
    const genuine = await t.fetch("/auth/me", { headers: { cookie: login.cookie } });
    expect(genuine.status).toBe(200);
  });

  it("sends browsers without a session to the login, never MCP clients", async () => {
    const page = await t.fetch("/admin", { headers: { accept: "text/html" } });
    expect(page.status).toBe(302);
    expect(page.headers.get("location")).toBe(`${t.url}/auth/login?rd=${encodeURIComponent(`${t.url}/admin`)}`);
    const mcp = await t.fetch("/mcp", {
      method: "POST",
      headers: { accept: "text/html, application/json, text/event-stream", "content-type": "application/json" },
      body: "{}",
    });
    expect(mcp.status).toBe(401);
    expect(mcp.headers.get("www-authenticate")).toBe(
      `Bearer resource_metadata="${t.url}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  it("refreshes a due session at the provider with its refresh token", async () => {
    const login = await t.login("joelalama@google.com");
    const secret = t.workerEnv.COOKIE_SECRET!;
    const session = (await unsealCookie(login.cookie.slice("mcpgw_session=".length), secret, "session/v1")) as Record<
      string,
      unknown
    >;
    expect(typeof session.rt).toBe("string");
    // the same session, its tokens due now
    const due = `mcpgw_session=${await sealCookie({ ...session, refreshAt: Math.floor(Date.now() / 1000) - 1 }, secret, "session/v1")}`;
    const nav = await t.fetch("/admin", { headers: { cookie: due, accept: "text/html" } });
    expect(nav.status).toBe(302);
    expect(nav.headers.get("location")).toBe(`${t.url}/auth/refresh?rd=${encodeURIComponent(`${t.url}/admin`)}`);
    const refreshed = await t.fetch(`/auth/refresh?rd=${encodeURIComponent("/admin")}`, { headers: { cookie: due } });
    expect(refreshed.status).toBe(302);
    expect(refreshed.headers.get("location")).toBe(`${t.url}/admin`);
    const setCookie = refreshed.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/^mcpgw_session=[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax/);
    const renewed = (await unsealCookie(
      setCookie.split(";")[0]!.slice("mcpgw_session=".length),
      secret,
      "session/v1",
    )) as Record<string, unknown>;
    expect(renewed).toMatchObject({ sid: session.sid, email: "joelalama@google.com" });
    expect(renewed.refreshAt).toBeGreaterThan(Date.now() / 1000);
    expect(renewed.rt).not.toBe(session.rt);
    // the provider rotated the refresh token: the old one no longer refreshes, so that path logs in again
    const again = await t.fetch(`/auth/refresh?rd=${encodeURIComponent("/admin")}`, { headers: { cookie: due } });
    expect(again.headers.get("location")).toBe(`${t.url}/auth/login?rd=${encodeURIComponent(`${t.url}/admin`)}`);
  });

  it("a session without a refresh token ends with the provider's tokens", async () => {
    const login = await t.login("joelalama@google.com");
    const secret = t.workerEnv.COOKIE_SECRET!;
    const session = (await unsealCookie(login.cookie.slice("mcpgw_session=".length), secret, "session/v1")) as Record<
      string,
      unknown
    >;
    const { rt: _rt, ...rest } = session;
    const ended = `mcpgw_session=${await sealCookie({ ...rest, exp: Math.floor(Date.now() / 1000) - 1 }, secret, "session/v1")}`;
    const nav = await t.fetch("/admin", { headers: { cookie: ended, accept: "text/html" } });
    expect(nav.headers.get("location")).toMatch(/\/auth\/login\?rd=/);
  });

  it("a session cookie sealed with another key or for another purpose is refused", async () => {
    const login = await t.login("joelalama@google.com");
    const secret = t.workerEnv.COOKIE_SECRET!;
    const session = await unsealCookie(login.cookie.slice("mcpgw_session=".length), secret, "session/v1");
    const otherKey = `mcpgw_session=${await sealCookie(session, "another-cookie-secret-0123456789abcdef", "session/v1")}`;
    const otherPurpose = `mcpgw_session=${await sealCookie(session, secret, "login-state/v1")}`;
    for (const cookie of [otherKey, otherPurpose]) {
      expect((await t.fetch("/admin/api/whoami", { headers: { cookie, accept: "application/json" } })).status).toBe(
        401,
      );
    }
  });
});
