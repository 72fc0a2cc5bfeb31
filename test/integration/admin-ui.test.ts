/**
 * The admin UI in headless Chromium (driven by playwright-core: Debian's `chromium` when
 * installed, else the one `npm ci` installs, test/harness/browser.ts) against the
 * real stack: real OIDC login at the local identity provider, real workerd, Postgres, catalog and
 * demo upstream MCP servers. An admin creates a tenant, a server with a secret header, a group
 * and a user, issues and revokes a key, and watches the user's access change in the explorer; a
 * non-admin is refused; forms without a CSRF token or from another origin are refused.
 * Screenshots of every page go to test/artifacts/ (gitignored).
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../harness/browser";
import { CHROMIUM_ARGS, signIn, submitAndLoad, mcpToolNames } from "../harness/admin-browser";
import { untilInForce } from "../harness/contract";
import { unseal } from "../../shared/secrets";
import { startTestStack, type TestStack } from "../harness/stack";

const ARTIFACTS = resolve(__dirname, "../artifacts");
const ARGS = CHROMIUM_ARGS;

let t: TestStack;
let browser: Browser;
let admin: BrowserContext;
let page: Page;
let upstreamUrl: string;
/** The demo upstream's per-start credential (`Authorization: Bearer ...`), given with the server like any upstream secret. */
let upstreamCredential: string;

const mcpTools = async (key: string) => mcpToolNames(t.url, key, "admin-ui-test");

async function shot(p: Page, name: string) {
  await p.screenshot({ path: resolve(ARTIFACTS, `admin-${name}.png`), fullPage: true });
}

const login = (ctx: BrowserContext, email: string, password: string, path?: string) =>
  signIn(ctx, t.url, email, password, path);

/** Submits the form holding `selector` and waits for the next page. */
const submit = submitAndLoad;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // production cache TTLs: the "within 2 s" checks below must prove the contract's promise
  t = await startTestStack({ demo: true, caches: "production" });
  const everything = t.upstreams.find((u) => u.id === "everything")!;
  upstreamUrl = everything.url;
  upstreamCredential = everything.headers.Authorization!;
  browser = await launchChromium(ARGS);
  admin = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  page = await login(admin, "admin@localhost", "admin");
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

describe("admin UI", () => {
  it("shows the overview after the OIDC login", async () => {
    expect(new URL(page.url()).pathname).toBe("/admin");
    await expect(page.textContent("header .who")).resolves.toContain("admin@localhost");
    await expect(page.textContent("main")).resolves.toContain("Recent admin changes");
    // the overview's counts are the API's lists' lengths
    const stats = Object.fromEntries(
      await page
        .locator(".stat")
        .evaluateAll((els) =>
          els.map((el) => [el.querySelector("span")!.textContent, Number(el.querySelector("b")!.textContent)]),
        ),
    );
    const listed: Record<string, number> = {};
    for (const what of ["tenants", "servers", "groups", "users"]) {
      const r = await t.fetch(`/admin/api/${what}`, { key: t.adminKey });
      listed[what] = ((await r.json()) as Record<string, unknown[]>)[what]!.length;
    }
    expect(stats).toEqual(listed);
    expect(listed.servers).toBeGreaterThan(0);
    await shot(page, "overview");
  });

  it("explains that an unknown user sees nothing yet", async () => {
    await page.goto(`${t.url}/admin/access?email=carol@example.com`);
    await expect(page.textContent("#visible-servers")).resolves.toContain("No visible servers");
    await shot(page, "access-before");
  });

  it("creates a tenant", async () => {
    await page.goto(`${t.url}/admin/tenants`);
    await page.fill("#t-id", "acme");
    await page.fill("#t-name", "Acme <Corp> & Co");
    await submit(page, "form[action='/admin/tenants'] button[type=submit]");
    await expect(page.textContent("[role=status]")).resolves.toContain("Tenant acme created");
    expect(page.url()).toBe(`${t.url}/admin/tenants`); // the message is not reflected from the URL
    // escaped, not interpreted
    await expect(page.textContent("main table")).resolves.toContain("Acme <Corp> & Co");
    await shot(page, "tenants");
  });

  it("creates a server with a write-only secret header", async () => {
    await page.goto(`${t.url}/admin/servers`);
    await page.fill("#s-id", "acme-tools");
    await page.selectOption("#s-tenant", "acme");
    await page.fill("#s-url", upstreamUrl);
    await page.fill("#s-headers", `X-Upstream-Token: s3cret-upstream-token\nAuthorization: ${upstreamCredential}`);
    await submit(page, "form[action='/admin/servers'] button[type=submit]");
    await expect(page.textContent("[role=status]")).resolves.toContain("Server acme-tools created");
    const html = await page.content();
    expect(html).toContain("X-Upstream-Token");
    expect(html).not.toContain("s3cret-upstream-token");
    await page.goto(`${t.url}/admin/servers?edit=acme-tools`);
    expect(await page.content()).not.toContain("s3cret-upstream-token");
    const [row] = await t.db.sql`SELECT headers FROM servers WHERE id = 'acme-tools'`;
    // stored sealed under SECRETS_KEY (shared/secrets.ts), each value bound to its server and header
    const stored = row!.headers as Record<string, string>;
    expect(Object.keys(stored).sort()).toEqual(["Authorization", "X-Upstream-Token"]);
    expect(Object.values(stored).every((v) => v.startsWith("mcpgw:v1:"))).toBe(true);
    const ring = await t.keyRing();
    expect(await unseal(ring, stored["X-Upstream-Token"]!, "servers.headers:acme-tools:X-Upstream-Token")).toBe(
      "s3cret-upstream-token",
    );
    expect(await unseal(ring, stored.Authorization!, "servers.headers:acme-tools:Authorization")).toBe(
      upstreamCredential,
    );
    expect(html).not.toContain(upstreamCredential.slice("Bearer ".length));
    await shot(page, "servers");
  });

  it("creates a group granting the tenant, with a tool rule", async () => {
    await page.goto(`${t.url}/admin/groups`);
    await page.fill("#g-name", "acme-eng");
    await page.check("input[name=tenants][value=acme]");
    await page.fill("#g-rules", "acme-tools deny echo");
    await submit(page, "form[action='/admin/groups'] button[type=submit]");
    await expect(page.textContent("[role=status]")).resolves.toContain("Group acme-eng created");
    await shot(page, "groups");
  });

  it("reports a bad rule line naming the field", async () => {
    await page.goto(`${t.url}/admin/groups`);
    await page.fill("#g-name", "broken");
    await page.fill("#g-rules", "acme-tools permit echo");
    await submit(page, "form[action='/admin/groups'] button[type=submit]");
    await expect(page.textContent("[role=alert]")).resolves.toContain("tools: line 1");
    expect(await t.db.sql`SELECT name FROM groups WHERE name = 'broken'`).toHaveLength(0);
  });

  it("onboards a user into the group", async () => {
    await page.goto(`${t.url}/admin/users`);
    await page.fill("#u-email", "Carol@Example.com");
    await page.fill("#u-name", "Carol");
    await page.check("input[name=groups][value=acme-eng]");
    await submit(page, "form[action='/admin/users'] button[type=submit]");
    expect(new URL(page.url()).pathname).toBe("/admin/users/carol%40example.com");
    await expect(page.textContent("[role=status]")).resolves.toContain("User carol@example.com created");
    await shot(page, "users");
  });

  it("issues a key shown once, which works, and revokes it", async () => {
    await page.fill("#k-name", "laptop");
    await submit(page, "form[action$='/keys'] button[type=submit]");
    const key = (await page.textContent("[data-testid=new-key]"))!.trim();
    expect(key).toMatch(/^mcpgw_/);
    await shot(page, "user-key");
    const who = await t.fetch("/admin/api/whoami", { key });
    expect(await who.json()).toMatchObject({ email: "carol@example.com", admin: false });
    // reloading the user page does not show the key again
    await page.goto(`${t.url}/admin/users/carol%40example.com`);
    expect(await page.content()).not.toContain(key);
    await submit(page, "form[action*='/revoke'] button[type=submit]");
    // the confirmation step (admin-ui-polish.test.ts), then the revoke itself
    await submit(page, "#confirm form button[type=submit]");
    const answered = Date.now();
    await expect(page.textContent("[role=status]")).resolves.toContain("revoked");
    // the contract: refused by every request that starts 2 s after the answer (production TTLs)
    await untilInForce(answered, () => t.fetch("/admin/api/whoami", { key }));
    expect((await t.fetch("/admin/api/whoami", { key })).status).toBe(401);
  });

  it("shows the user's new access, with the chain and the hidden tool, in the explorer", async () => {
    // the catalog lists the new server after the save (asked by the admin worker); poll until it has
    let text = "";
    for (let i = 0; i < 60; i++) {
      await page.goto(`${t.url}/admin/access?email=carol%40example.com`);
      text = (await page.textContent("#visible-servers")) ?? "";
      if (text.includes('denies "echo"')) break;
      await page.waitForTimeout(500);
    }
    expect(text).toContain("carol@example.com -> group acme-eng -> tenant acme -> server acme-tools");
    expect(text).toMatch(/echo[\s\S]*group acme-eng denies "echo"/);
    await shot(page, "access-after");
    await page.goto(`${t.url}/admin/access?email=carol%40example.com&tool=acme-tools__echo`);
    await expect(page.textContent("#tool-verdict")).resolves.toContain("not visible");
    await expect(page.textContent("#tool-verdict")).resolves.toContain('denies "echo"');
    await shot(page, "access-tool");
  });

  it("changes what an MCP client sees within 2 s of a save in the UI", async () => {
    const issued = await t.fetch("/admin/api/users/carol@example.com/keys", {
      method: "POST",
      key: t.adminKey,
      json: { name: "mcp" },
    });
    const { key } = (await issued.json()) as { key: string };
    const before = await mcpTools(key);
    expect(before).toContain("acme-tools__get-sum");
    expect(before).not.toContain("acme-tools__echo");
    // lift the deny rule
    await page.goto(`${t.url}/admin/groups?edit=acme-eng`);
    expect(await page.inputValue("#g-rules")).toBe("acme-tools deny echo");
    await page.fill("#g-rules", "");
    await submit(page, "form[action='/admin/groups'] button[type=submit]");
    const answered = Date.now();
    await expect(page.textContent("[role=status]")).resolves.toContain("Group acme-eng saved");
    // the contract: in force for every MCP request that starts 2 s after the answer (the stack
    // runs the production cache TTLs; MCP clients meanwhile keep the caches warm)
    await untilInForce(answered, () => mcpTools(key));
    expect(await mcpTools(key)).toContain("acme-tools__echo");
  });

  it("shows health, tool changes, audit log, usage and the API reference", async () => {
    await page.goto(`${t.url}/admin/health`);
    await expect(page.textContent("main")).resolves.toContain("acme-tools");
    await shot(page, "health");
    // a changed tool definition, as the catalog records it, shown as a diff
    await t.db.sql`INSERT INTO item_changes (server_id, kind, name, change, before, after)
      VALUES ('acme-tools', 'tool', 'echo', 'changed', ${t.db.sql.json({ name: "echo", description: "Echoes back" })}, ${t.db.sql.json({ name: "echo", description: "Echoes back the input" })})`;
    await page.goto(`${t.url}/admin/changes?server=acme-tools`);
    await expect(page.textContent(".diff .del")).resolves.toContain('"description": "Echoes back"');
    await expect(page.textContent(".diff .add")).resolves.toContain('"description": "Echoes back the input"');
    await shot(page, "changes");
    await page.goto(`${t.url}/admin/audit?kind=admin_change&actor=admin%40localhost`);
    const audit = (await page.textContent("main table"))!;
    for (const action of ["tenant.create", "server.create", "group.create", "user.create", "key.issue", "key.revoke"])
      expect(audit).toContain(action);
    expect(await page.content()).not.toContain("s3cret-upstream-token");
    await shot(page, "audit");
    for (const [actor, outcome, ms] of [
      ["carol@example.com", "ok", 12],
      ["carol@example.com", "error", 80],
      ["joelalama@google.com", "ok", 25],
    ] as const) {
      await t.db
        .sql`INSERT INTO audit_log (kind, actor, action, server_id, tool, outcome, duration_ms) VALUES ('tool_call', ${actor}, 'tools/call', 'acme-tools', 'add', ${outcome}, ${ms})`;
    }
    await page.goto(`${t.url}/admin/reports?range=1h`);
    expect(await page.locator("svg[aria-label='tool calls over time'] rect").count()).toBeGreaterThan(3);
    await expect(page.textContent("main")).resolves.toContain("carol@example.com");
    await shot(page, "reports");
    await page.goto(`${t.url}/admin/api/docs`);
    await page.fill("section[id='get-/admin/api/tenants/{id}'] input[name=id]", "acme");
    await page.click("section[id='get-/admin/api/tenants/{id}'] button");
    // a function, not a string: the page's CSP forbids eval
    await page.waitForFunction(
      (sel) => (globalThis as any).document.querySelector(sel)?.textContent?.startsWith("200"),
      "section[id='get-/admin/api/tenants/{id}'] pre.out",
    );
    await expect(page.textContent("section[id='get-/admin/api/tenants/{id}'] pre.out")).resolves.toContain(
      '"name": "Acme <Corp> & Co"',
    );
    await shot(page, "api-docs");
    await page
      .locator("section[id='get-/admin/api/tenants/{id}']")
      .screenshot({ path: resolve(ARTIFACTS, "admin-api-docs-try.png") });
  });

  it("answers unknown pages with an HTML 404", async () => {
    const res = await page.goto(`${t.url}/admin/no-such-page`);
    expect(res!.status()).toBe(404);
    await expect(page.textContent("main")).resolves.toContain("No page /admin/no-such-page");
  });

  it("refuses form posts without a valid CSRF token or from another origin", async () => {
    const noToken = await admin.request.post(`${t.url}/admin/tenants`, {
      form: { id: "forged", name: "Forged" },
      headers: { Origin: t.url },
    });
    expect(noToken.status()).toBe(403);
    await page.goto(`${t.url}/admin/tenants`);
    const token = await page.inputValue("form[action='/admin/tenants'] input[name=_csrf]");
    const crossSite = await admin.request.post(`${t.url}/admin/tenants`, {
      form: { _csrf: token, id: "forged", name: "Forged" },
      headers: { Origin: "https://evil.example" },
    });
    expect(crossSite.status()).toBe(403);
    const otherUsersToken = await admin.request.post(`${t.url}/admin/tenants`, {
      form: { _csrf: token.replace(/.$/, (ch) => (ch === "A" ? "B" : "A")), id: "forged", name: "Forged" },
      headers: { Origin: t.url },
    });
    expect(otherUsersToken.status()).toBe(403);
    expect(await t.db.sql`SELECT id FROM tenants WHERE id = 'forged'`).toHaveLength(0);
    // the same token from this origin works
    const ok = await admin.request.post(`${t.url}/admin/tenants`, {
      form: { _csrf: token, id: "forged", name: "Now allowed" },
      headers: { Origin: t.url },
      maxRedirects: 0,
    });
    expect(ok.status()).toBe(303);
  });

  it("refuses a non-admin with a 403 page", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 600 } });
    const p = await login(ctx, "joelalama@google.com", "demo");
    const res = await p.goto(`${t.url}/admin/tenants`);
    expect(res!.status()).toBe(403);
    await expect(p.textContent("main")).resolves.toContain("403");
    expect(await p.content()).not.toContain("Acme");
    await shot(p, "forbidden");
    await ctx.close();
  });
  it("signs out with the header's Sign out form (POST with its token), and a cross-site post or a GET signs nobody out", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 600 } });
    const p = await login(ctx, "admin@localhost", "admin");
    // a page elsewhere posting to /auth/logout, and a plain GET of it, leave the session alone
    const token = await p.inputValue("header form.signout input[name=_logout]");
    expect(
      (
        await ctx.request.post(`${t.url}/auth/logout`, {
          form: { _logout: token },
          headers: { Origin: "https://evil.example" },
          maxRedirects: 0,
        })
      ).status(),
    ).toBe(403);
    expect((await ctx.request.get(`${t.url}/auth/logout`, { maxRedirects: 0 })).status()).toBe(200);
    expect((await p.goto(`${t.url}/admin/tenants`))!.status()).toBe(200);
    // the real button, in the real browser: the session ends here and at the identity provider
    await Promise.all([
      p.waitForURL((u) => u.pathname === "/auth/logged-out", { timeout: 15_000 }),
      p.click("header form.signout button[type=submit]"),
    ]);
    await expect(p.textContent("h1")).resolves.toContain("Signed out");
    const after = await ctx.request.get(`${t.url}/admin/api/whoami`, {
      headers: { accept: "application/json" },
      maxRedirects: 0,
    });
    expect(after.status()).toBe(401);
    await shot(p, "signed-out");
    await ctx.close();
  });
});
