/**
 * Self-service for every signed-in user (issue 19): /admin/me in headless Chromium and the JSON
 * API /admin/api/me, against the real stack (demo data, the local OIDC provider, workerd,
 * Postgres, the demo upstream MCP servers). A non-admin going to /admin lands on their page,
 * sees what they can use and why (the same evaluator as the catalog: checked against what a real
 * MCP client lists), issues a key shown once that works on /mcp, revokes it, and can never touch
 * another user's key. Every admin page and the 403 page carry the sign-out form; the signed-out
 * page is styled like the rest.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../harness/browser";
import { CHROMIUM_ARGS, signIn, submitAndLoad, mcpToolNames } from "../harness/admin-browser";
import { generateApiKey, insertApiKey } from "../../shared/repos/apikeys.repo";
import { startTestStack, type TestStack } from "../harness/stack";

const ARTIFACTS = resolve(__dirname, "../artifacts");
const ARGS = CHROMIUM_ARGS;
const JOE = "joelalama@google.com";
const MIKE = "miketest@microsoft.com";

let t: TestStack;
let browser: Browser;

const mcpTools = async (key: string) => (await mcpToolNames(t.url, key, "self-service-test")).sort();

const login = (ctx: BrowserContext, email: string, password: string, path?: string) =>
  signIn(ctx, t.url, email, password, path);

const submit = submitAndLoad;

const shot = (p: Page, name: string) => p.screenshot({ path: resolve(ARTIFACTS, `self-${name}.png`), fullPage: true });

/** A key for `email` inserted directly (the way the harness does), for the cross-user checks. */
async function keyFor(email: string): Promise<{ id: string; key: string }> {
  const k = await generateApiKey();
  await insertApiKey(t.db.sql, email, "by-admin", k);
  return { id: k.id, key: k.key };
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  t = await startTestStack({ demo: true });
  browser = await launchChromium(ARGS);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

describe("self-service API (/admin/api/me)", () => {
  it("answers a non-admin with their own access only: what the catalog serves them, the same chains as the explorer, nothing hidden", async () => {
    const { key } = await keyFor(JOE);
    const listed = await mcpTools(key); // also makes the catalog list the upstreams
    const res = await t.fetch("/admin/api/me", { key });
    expect(res.status).toBe(200);
    const me = (await res.json()) as any;
    expect(me.identity).toMatchObject({ email: JOE, admin: false, via: "apikey" });
    expect(me.canIssueKeys).toBe(false);
    expect(me.access.groups).toEqual(["google-users"]);
    expect(me.access.servers.map((s: any) => s.id).sort()).toEqual(["everything", "memory", "modern"]);
    // the same evaluator: the tools the page names are exactly the ones a real MCP client lists
    expect(me.access.servers.flatMap((s: any) => s.tools.map((x: any) => x.qualified)).sort()).toEqual(listed);
    expect(listed.length).toBeGreaterThan(5);
    const everything = me.access.servers.find((s: any) => s.id === "everything");
    expect(everything.chains).toEqual([`${JOE} -> group google-users -> tenant google -> server everything`]);
    expect(everything.mcpUrl).toBe(`${t.url}/mcp/everything`);
    // and the admin's explorer agrees on every chain
    const explained = (await (await t.fetch(`/admin/api/access/${JOE}`, { key: t.adminKey })).json()) as any;
    expect(explained.servers.map((s: any) => [s.id, s.chains])).toEqual(
      me.access.servers.map((s: any) => [s.id, s.chains]),
    );
    // other tenants' servers are not named, hidden or not
    const text = JSON.stringify(me);
    expect(text).not.toContain("microsoft");
    expect(text).not.toContain('"files"');
    expect(me.access).not.toHaveProperty("hiddenServers");
    expect(me.connect).toEqual({
      mcpUrl: `${t.url}/mcp`,
      header: "Authorization",
      headerValue: "Bearer <your API key>",
      docs: "docs/open-webui.md",
    });
    // its keys, never the key itself
    expect(me.keys.map((k: any) => k.name)).toEqual(["by-admin"]);
    expect(text).not.toContain(key);
  });

  it("keeps the rest of the admin API closed to a non-admin", async () => {
    const { key } = await keyFor(MIKE);
    for (const path of [
      "/admin/api/tenants",
      `/admin/api/users/${MIKE}/keys`,
      `/admin/api/access/${JOE}`,
      "/admin/api/users",
    ]) {
      const res = await t.fetch(path, { key });
      expect(res.status, path).toBe(403);
      expect(await res.json()).toMatchObject({ error: "forbidden" });
    }
    expect((await t.fetch("/admin/api/me", { key })).status).toBe(200);
  });

  it("lets a signed-in user issue a key (shown once) that works on /mcp, list and revoke their own; an API key cannot mint keys", async () => {
    const { cookie } = await t.login(MIKE);
    const origin = { cookie, origin: t.url };
    const issued = await t.fetch("/admin/api/me/keys", {
      method: "POST",
      headers: origin,
      json: { name: "laptop", expiresInDays: 30 },
    });
    expect(issued.status).toBe(201);
    expect(issued.headers.get("cache-control")).toBe("no-store");
    const k = (await issued.json()) as { id: string; key: string; name: string; expiresAt: string };
    expect(k.key).toMatch(/^mcpgw_/);
    expect(k.name).toBe("laptop");
    expect(new Date(k.expiresAt).getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    expect(await mcpTools(k.key)).toEqual(expect.arrayContaining([expect.stringMatching(/^files__/)]));
    const listed = (await (await t.fetch("/admin/api/me/keys", { headers: origin })).json()) as {
      keys: { id: string; name: string }[];
    };
    expect(listed.keys.map((x) => x.id)).toContain(k.id);
    expect(JSON.stringify(listed)).not.toContain(k.key);
    // audited, with the user as the actor
    const [audit] = await t.db
      .sql`SELECT actor, action FROM audit_log WHERE target = ${`user:${MIKE}`} AND action = 'key.issue' ORDER BY id DESC LIMIT 1`;
    expect(audit).toMatchObject({ actor: MIKE, action: "key.issue" });
    // the new key reads but cannot issue another (a leaked key must not outlive its revocation)
    const minted = await t.fetch("/admin/api/me/keys", { method: "POST", key: k.key, json: { name: "more" } });
    expect(minted.status).toBe(403);
    expect(((await minted.json()) as { message: string }).message).toContain("API key cannot issue");
    // bad input: a 400 naming the field
    const bad = await t.fetch("/admin/api/me/keys", {
      method: "POST",
      headers: origin,
      json: { name: "", expiresInDays: 0 },
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: "invalid_request", field: "name" });
    // revoke with the key itself: 204, and the key stops working
    expect((await t.fetch(`/admin/api/me/keys/${k.id}`, { method: "DELETE", key: k.key })).status).toBe(204);
    expect((await t.fetch("/admin/api/me", { key: k.key })).status).toBe(401);
    expect((await t.fetch(`/admin/api/me/keys/${k.id}`, { method: "DELETE", headers: origin })).status).toBe(404);
  });

  it("never touches another user's key: 404 like an unknown id, and the key stays live", async () => {
    const joe = await keyFor(JOE);
    const mike = await keyFor(MIKE);
    const res = await t.fetch(`/admin/api/me/keys/${joe.id}`, { method: "DELETE", key: mike.key });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: "not_found" });
    const [row] = await t.db.sql`SELECT revoked_at FROM api_keys WHERE id = ${joe.id}`;
    expect(row!.revoked_at).toBeNull();
    expect((await t.fetch("/admin/api/me", { key: joe.key })).status).toBe(200);
    const mine = (await (await t.fetch("/admin/api/me/keys", { key: mike.key })).json()) as { keys: { id: string }[] };
    expect(mine.keys.map((k) => k.id)).not.toContain(joe.id);
  });

  it("refuses a cross-site post with the user's session, and more than 20 live keys", async () => {
    const { cookie } = await t.login(JOE);
    const cross = await t.fetch("/admin/api/me/keys", {
      method: "POST",
      headers: { cookie, origin: "https://evil.example" },
      json: { name: "x" },
    });
    expect(cross.status).toBe(403);
    const live = (
      await t.db.sql`SELECT count(*)::int AS n FROM api_keys WHERE user_email = ${JOE} AND revoked_at IS NULL`
    )[0]!.n as number;
    for (let i = live; i < 20; i++) await keyFor(JOE);
    const over = await t.fetch("/admin/api/me/keys", {
      method: "POST",
      headers: { cookie, origin: t.url },
      json: { name: "one too many" },
    });
    expect(over.status).toBe(409);
    expect(((await over.json()) as { message: string }).message).toContain("revoke one first");
    await t.db.sql`UPDATE api_keys SET revoked_at = now() WHERE user_email = ${JOE} AND name = 'by-admin'`;
  });

  it("is in the OpenAPI document and the API reference, beside /admin/api/whoami", async () => {
    const doc = (await (await t.fetch("/admin/api/openapi.json", { key: t.adminKey })).json()) as any;
    expect(doc.paths["/admin/api/me"]?.get).toBeTruthy();
    expect(doc.paths["/admin/api/me/keys"]?.post?.responses?.["409"]).toBeTruthy();
    expect(doc.paths["/admin/api/me/keys/{keyId}"]?.delete).toBeTruthy();
    expect(doc.paths["/admin/api/whoami"]?.get).toBeTruthy();
    const page = await (await t.fetch("/admin/api/docs", { key: t.adminKey })).text();
    expect(page).toContain("GET</span> <code>/admin/api/whoami");
    expect(page).toContain("POST</span> <code>/admin/api/me/keys");
  });
});

describe("self-service page (/admin/me) in Chromium", () => {
  it("sends a non-admin from /admin to their page: access with chains, the client settings, keys issued once and revoked", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const p = await login(ctx, JOE, "demo");
    await p.goto(`${t.url}/admin`);
    expect(new URL(p.url()).pathname).toBe("/admin/me");
    // no admin navigation for a non-admin; the sign-out form is in the header
    expect(await p.locator("header nav").count()).toBe(0);
    expect(await p.locator("header form.signout input[name=_logout]").count()).toBe(1);
    const access = await p.textContent("#my-access");
    expect(access).toContain(`${JOE} -> group google-users -> tenant google -> server everything`);
    expect(access).toContain("memory__");
    expect(access).not.toContain("server files");
    await expect(p.textContent("[data-testid=mcp-url]")).resolves.toBe(`${t.url}/mcp`);
    await expect(p.textContent("[data-testid=mcp-header]")).resolves.toBe("Authorization: Bearer <your API key>");
    // every form carries the CSRF field
    for (const f of await p.locator("main form").all()) expect(await f.locator("input[name=_csrf]").count()).toBe(1);
    // issue a key: shown once, works on /mcp with exactly the tools the page lists
    await p.fill("#k-name", "open-webui");
    await submit(p, "form[action='/admin/me/keys'] button[type=submit]");
    const key = (await p.textContent("[data-testid=new-key]"))!.trim();
    expect(key).toMatch(/^mcpgw_/);
    await shot(p, "new-key");
    const tools = await mcpTools(key);
    const shown = (await p.locator("#my-access td:first-child code").allTextContents()).sort();
    expect(shown).toEqual(tools);
    await p.goto(`${t.url}/admin/me`);
    expect(await p.content()).not.toContain(key);
    const id = key.slice("mcpgw_".length).split("_")[0]!;
    // revoke it with its button: a confirmation page first (Cancel keeps the key), then it stops working
    await submit(p, `form[action='/admin/me/keys/${id}/revoke'] button[type=submit]`);
    await expect(p.textContent("#confirm h2")).resolves.toContain(`Revoke key ${id}?`);
    await Promise.all([p.waitForURL((u) => u.pathname === "/admin/me"), p.click("#confirm-cancel")]);
    expect((await t.fetch("/admin/api/me", { key })).status).toBe(200);
    await submit(p, `form[action='/admin/me/keys/${id}/revoke'] button[type=submit]`);
    await submit(p, "#confirm button[type=submit]");
    await expect(p.textContent("[role=status]")).resolves.toContain(`Key ${id} revoked`);
    await expect(p.textContent(`tr[data-key='${id}']`)).resolves.toContain("revoked");
    expect((await t.fetch("/admin/api/me", { key })).status).toBe(401);
    await shot(p, "me");
    await ctx.close();
  });

  it("refuses a form post without the CSRF token, and a revoke of another user's key changes nothing", async () => {
    const ctx = await browser.newContext();
    const p = await login(ctx, MIKE, "demo", "/admin/me");
    const noToken = await ctx.request.post(`${t.url}/admin/me/keys`, {
      form: { name: "forged" },
      headers: { Origin: t.url },
      maxRedirects: 0,
    });
    expect(noToken.status()).toBe(403);
    const token = await p.inputValue("form[action='/admin/me/keys'] input[name=_csrf]");
    const joe = await keyFor(JOE);
    const other = await ctx.request.post(`${t.url}/admin/me/keys/${joe.id}/revoke`, {
      form: { _csrf: token, confirm: "yes" },
      headers: { Origin: t.url },
      maxRedirects: 0,
    });
    expect(other.status()).toBe(400);
    expect(await other.text()).toContain(`no live key ${joe.id}`);
    expect((await t.db.sql`SELECT revoked_at FROM api_keys WHERE id = ${joe.id}`)[0]!.revoked_at).toBeNull();
    await ctx.close();
  });

  it("shows the 403 page with a sign-out form and the way to My access; signing out there ends on a styled page", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 700 } });
    const p = await login(ctx, MIKE, "demo");
    const res = await p.goto(`${t.url}/admin/tenants`);
    expect(res!.status()).toBe(403);
    await expect(p.textContent("main")).resolves.toContain("403");
    expect(await p.locator("header form.signout input[name=_logout]").count()).toBe(1);
    expect(await p.getAttribute("#to-me", "href")).toBe("/admin/me");
    await shot(p, "forbidden");
    await Promise.all([
      p.waitForURL((u) => u.pathname === "/auth/logged-out", { timeout: 15_000 }),
      p.click("header form.signout button[type=submit]"),
    ]);
    await expect(p.textContent("h1")).resolves.toContain("Signed out");
    // styled like the admin UI: its header bar and a card, not the browser's default page
    const style = (selector: string, prop: string) =>
      p
        .locator(selector)
        .first()
        .evaluate((el: any, name: string) => el.ownerDocument.defaultView.getComputedStyle(el)[name] as string, prop);
    expect(await style("header", "backgroundColor")).toBe("rgb(31, 42, 68)");
    expect(await style(".card", "backgroundColor")).toBe("rgb(255, 255, 255)");
    expect(await style("body", "margin")).toBe("0px");
    await shot(p, "signed-out");
    expect(
      (
        await ctx.request.get(`${t.url}/admin/api/me`, { maxRedirects: 0, headers: { accept: "application/json" } })
      ).status(),
    ).toBe(401);
    // "Sign in again" leads back through the login to the user's page
    await p.click("a.button");
    await p.waitForSelector("form#login");
    await p.fill("input[name=email]", MIKE);
    await p.fill("input[name=password]", "demo");
    await Promise.all([
      p.waitForURL((u) => u.href.startsWith(`${t.url}/admin/me`)),
      p.click("form#login button[type=submit]"),
    ]);
    await expect(p.textContent("#my-access")).resolves.toContain("server files");
    await ctx.close();
  });

  it("gives an admin the same page in the navigation, and the sign-out form on every admin page", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 800 } });
    const p = await login(ctx, "admin@localhost", "admin");
    const links = await p.locator("header nav a").evaluateAll((as) => as.map((a) => a.getAttribute("href")!));
    expect(links.length).toBeGreaterThan(10);
    for (const href of links) {
      const r = await p.goto(`${t.url}${href}`);
      expect(r!.status(), href).toBe(200);
      expect(await p.locator("header form.signout input[name=_logout]").count(), href).toBe(1);
    }
    expect(links).toContain("/admin/me");
    await p.goto(`${t.url}/admin/me`);
    await expect(p.textContent("#my-access")).resolves.toContain("an administrator");
    await expect(p.textContent("#my-access")).resolves.toContain("server files");
    await ctx.close();
  });
});
