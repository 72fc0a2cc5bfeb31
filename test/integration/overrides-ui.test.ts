/**
 * Tool overrides of a real server in the admin UI (issue 15), in headless Chromium against the
 * real stack (OIDC login, workerd, Postgres) and a real SDK upstream (curated.upstream.ts): the
 * admin renames a tool, replaces its description and hides another on the server's edit page,
 * sees a clashing or too long name refused on the page, removes an override through the
 * confirmation step, and every change reaches a real MCP SDK client on /mcp and /mcp/<server>
 * within the contract's 2 s. Each form needs its CSRF token; each change is audited.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../harness/browser";
import { CHROMIUM_ARGS, signIn } from "../harness/admin-browser";
import { startTestStack, type TestStack } from "../harness/stack";
import { startMutableUpstream, type MutableUpstream } from "./curated.upstream";
import { gatewayClient } from "./mcp.fixture";

const ARTIFACTS = resolve(__dirname, "../artifacts");
const ARGS = CHROMIUM_ARGS;
const ADD: Tool = {
  name: "add",
  description: "Adds two numbers.",
  inputSchema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } } },
};
const SHOUT: Tool = {
  name: "shout",
  description: "Shouts a text.",
  inputSchema: { type: "object", properties: { text: { type: "string" } } },
};

let t: TestStack;
let up: MutableUpstream;
let browser: Browser;
let admin: BrowserContext;
let page: Page;
let carol: string;

async function tools(path: string): Promise<Tool[]> {
  const { client } = await gatewayClient(t.url, path, carol);
  try {
    return (await client.listTools()).tools;
  } finally {
    await client.close();
  }
}
const names = async (path: string) => (await tools(path).catch(() => [] as Tool[])).map((x) => x.name).sort();

async function within(ms: number, what: string, ok: () => Promise<boolean>): Promise<number> {
  const at = Date.now();
  while (!(await ok())) {
    if (Date.now() - at > ms) throw new Error(`not in force within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - at;
}

async function submit(p: Page, button: string) {
  return (await Promise.all([p.waitForNavigation(), p.click(button)]))[0];
}
const row = (tool: string) => `tr[data-tool='${tool}']`;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  up = await startMutableUpstream([ADD, SHOUT]);
  t = await startTestStack({ caches: "production" });
  const api = (path: string, json: unknown) => t.fetch(`/admin/api${path}`, { method: "PUT", key: t.adminKey, json });
  expect((await api("/tenants/lab", { name: "Lab" })).status).toBe(201);
  expect((await api("/groups/lab-users", { tenants: ["lab"] })).status).toBe(201);
  expect((await api("/servers/ovr", { tenant: "lab", url: up.url })).status).toBe(201);
  carol = await t.userKey("carol@lab.test", { groups: ["lab-users"] });
  await within(30_000, "the first listing", async () => (await names("/mcp/ovr")).length === 2);
  browser = await launchChromium(ARGS);
  admin = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  page = await signIn(admin, t.url, "admin@localhost", "admin");
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await up?.stop();
});

describe("tool overrides in the admin UI", () => {
  it(
    "renames, re-describes and hides tools from the server's page; users see it on /mcp and /mcp/<server> within 2 s",
    { timeout: 90_000 },
    async () => {
      await page.goto(`${t.url}/admin/servers?edit=ovr`);
      await expect(
        page.locator("#overrides tr[data-tool]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-tool"))),
      ).resolves.toEqual(["add", "shout"]);

      await page.fill(`${row("add")} input[name=name]`, "sum");
      await page.fill(`${row("add")} textarea[name=description]`, "Sums a and b.");
      await submit(page, `${row("add")} button[name=save]`);
      await expect(page.textContent(".flash")).resolves.toContain("Override of add created: shown as sum.");
      await expect(page.textContent(`${row("add")}`)).resolves.toContain("shown as sum");
      const took = await within(
        2_000,
        "the rename",
        async () => (await names("/mcp/ovr")).includes("sum") && (await names("/mcp")).includes("ovr__sum"),
      );
      expect(took).toBeLessThan(2_000);
      expect((await tools("/mcp/ovr")).find((x) => x.name === "sum")).toEqual({
        ...ADD,
        name: "sum",
        description: "Sums a and b.",
      });
      expect((await tools("/mcp")).find((x) => x.name === "ovr__sum")?.description).toBe("Sums a and b.");
      expect(await names("/mcp/ovr")).not.toContain("add");
      // the new name reaches the real tool by its real name
      const { client } = await gatewayClient(t.url, "/mcp/ovr", carol);
      const r = await client.callTool({ name: "sum", arguments: { a: 2, b: 3 } });
      await client.close();
      expect(r.content).toEqual([{ type: "text", text: 'add: {"a":2,"b":3}' }]);

      await page.check(`${row("shout")} input[name=hidden]`);
      await submit(page, `${row("shout")} button[name=save]`);
      await expect(page.textContent(".flash")).resolves.toContain("Override of shout created: hidden for everyone.");
      await within(
        2_000,
        "the hidden tool",
        async () => !(await names("/mcp/ovr")).includes("shout") && !(await names("/mcp")).includes("ovr__shout"),
      );
      expect(await names("/mcp/ovr")).toEqual(["sum"]);
      expect(await page.isChecked(`${row("shout")} input[name=hidden]`)).toBe(true);
      await page.screenshot({ path: resolve(ARTIFACTS, "overrides-ui.png"), fullPage: true });

      // both changes are audited under the admin's name, like the API's
      const audit = await t.db
        .sql`SELECT actor, action, detail FROM audit_log WHERE kind = 'admin_change' AND action LIKE 'override.%' ORDER BY id`;
      expect(audit.map((a) => [a.actor, a.action, (a.detail as { tool?: string }).tool])).toEqual([
        ["admin@localhost", "override.create", "add"],
        ["admin@localhost", "override.create", "shout"],
      ]);
    },
  );

  it(
    "shows a clashing, too long or invalid name as a message on the page, keeps what was typed and saves nothing",
    { timeout: 60_000 },
    async () => {
      await page.goto(`${t.url}/admin/servers?edit=ovr`);
      await page.fill(`${row("add")} input[name=name]`, "shout");
      let res = await submit(page, `${row("add")} button[name=save]`);
      expect(res!.status()).toBe(400);
      await expect(page.textContent(".flash.error")).resolves.toContain(
        "add: name: shout is already the name of another tool of server ovr",
      );
      await expect(page.inputValue(`${row("add")} input[name=name]`)).resolves.toBe("shout");
      await expect(page.inputValue(`${row("add")} textarea[name=description]`)).resolves.toBe("Sums a and b.");

      await page.fill(`${row("add")} input[name=name]`, "x".repeat(62));
      res = await submit(page, `${row("add")} button[name=save]`);
      expect(res!.status()).toBe(400);
      await expect(page.textContent(".flash.error")).resolves.toContain("longer than 64 characters");
      await page.screenshot({ path: resolve(ARTIFACTS, "overrides-ui-error.png"), fullPage: true });

      // what the browser's pattern check would stop, posted anyway: a 400 page naming the field, not a 500
      const token = await page.inputValue(`${row("add")} input[name=_csrf]`);
      const bad = await admin.request.post(`${t.url}/admin/servers/ovr/overrides?tool=add`, {
        form: { _csrf: token, name: "has space!" },
        headers: { Origin: t.url },
        maxRedirects: 0,
      });
      expect(bad.status()).toBe(400);
      expect(await bad.text()).toContain("add: name: must be 1-64 characters of [A-Za-z0-9_-]");
      const nope = await admin.request.post(`${t.url}/admin/servers/nope/overrides?tool=add`, {
        form: { _csrf: token, name: "x" },
        headers: { Origin: t.url },
        maxRedirects: 0,
      });
      expect(nope.status()).toBe(404);
      for (const action of ["/admin/servers/ovr/overrides", "/admin/servers/ovr/overrides/delete"]) {
        const noTool = await admin.request.post(`${t.url}${action}`, {
          form: { _csrf: token, name: "x" },
          headers: { Origin: t.url },
          maxRedirects: 0,
        });
        expect(noTool.status()).toBe(400);
        expect(await noTool.text()).toContain(": tool: ");
      }
      expect(await t.db.sql`SELECT tool, name FROM tool_overrides WHERE server_id = 'ovr' ORDER BY tool`).toEqual([
        { tool: "add", name: "sum" },
        { tool: "shout", name: null },
      ]);
      expect(await names("/mcp/ovr")).toEqual(["sum"]);
    },
  );

  it("refuses override posts without a valid CSRF token or from another origin", async () => {
    await page.goto(`${t.url}/admin/servers?edit=ovr`);
    const token = await page.inputValue(`${row("shout")} input[name=_csrf]`);
    for (const action of [
      "/admin/servers/ovr/overrides?tool=shout",
      "/admin/servers/ovr/overrides/delete?tool=shout",
    ]) {
      const noToken = await admin.request.post(`${t.url}${action}`, {
        form: { name: "forged", confirm: "yes" },
        headers: { Origin: t.url },
        maxRedirects: 0,
      });
      expect(noToken.status()).toBe(403);
      const crossSite = await admin.request.post(`${t.url}${action}`, {
        form: { _csrf: token, name: "forged", confirm: "yes" },
        headers: { Origin: "https://evil.example" },
        maxRedirects: 0,
      });
      expect(crossSite.status()).toBe(403);
    }
    expect(
      await t.db.sql`SELECT tool, name, hidden FROM tool_overrides WHERE server_id = 'ovr' AND tool = 'shout'`,
    ).toEqual([{ tool: "shout", name: null, hidden: true }]);
  });

  it(
    "removes an override after the confirmation step; the upstream's tool is back within 2 s",
    { timeout: 60_000 },
    async () => {
      await page.goto(`${t.url}/admin/servers?edit=ovr`);
      await submit(page, `${row("add")} button[name=remove]`);
      await expect(page.textContent("#confirm h2")).resolves.toContain("Remove the override of add?");
      expect(await t.db.sql`SELECT tool FROM tool_overrides WHERE server_id = 'ovr' AND tool = 'add'`).toHaveLength(1);
      await submit(page, "#confirm button[type=submit]");
      await expect(page.textContent(".flash")).resolves.toContain("Override of add removed.");
      expect(await page.$(`${row("add")} button[name=remove]`)).toBeNull();
      await within(
        2_000,
        "the upstream's add",
        async () => (await names("/mcp/ovr")).includes("add") && (await names("/mcp")).includes("ovr__add"),
      );
      expect((await tools("/mcp/ovr")).find((x) => x.name === "add")).toEqual(ADD);
      expect(await names("/mcp")).not.toContain("ovr__sum");

      await submit(page, `${row("shout")} button[name=remove]`);
      await submit(page, "#confirm button[type=submit]");
      await within(
        2_000,
        "the upstream's shout",
        async () => (await names("/mcp/ovr")).join() === "add,shout" && (await names("/mcp")).includes("ovr__shout"),
      );
      const audit = await t.db.sql`SELECT actor, detail FROM audit_log WHERE action = 'override.delete' ORDER BY id`;
      expect(audit.map((a) => [a.actor, (a.detail as { tool?: string }).tool])).toEqual([
        ["admin@localhost", "add"],
        ["admin@localhost", "shout"],
      ]);
    },
  );

  it(
    "handles upstream tool names that need escaping in a path (slash, space, percent, dot)",
    { timeout: 60_000 },
    async () => {
      const odd = ["fs/read file", "100%.sure"];
      up.setTools([ADD, SHOUT, ...odd.map((name) => ({ ...SHOUT, name }))]);
      expect((await t.fetch("/admin/api/servers/ovr/refresh", { method: "POST", key: t.adminKey })).status).toBe(202);
      await within(10_000, "the odd names listed", async () => (await names("/mcp/ovr")).length === 4);
      await page.goto(`${t.url}/admin/servers?edit=ovr`);
      for (const [i, tool] of odd.entries()) {
        await page.fill(`${row(tool)} input[name=name]`, `odd_${i}`);
        await submit(page, `${row(tool)} button[name=save]`);
        await expect(page.textContent(".flash")).resolves.toContain(`Override of ${tool} created: shown as odd_${i}.`);
      }
      await within(2_000, "the odd renames", async () => (await names("/mcp/ovr")).join() === "add,odd_0,odd_1,shout");
      expect(await t.db.sql`SELECT tool, name FROM tool_overrides WHERE server_id = 'ovr' ORDER BY name`).toEqual([
        { tool: "fs/read file", name: "odd_0" },
        { tool: "100%.sure", name: "odd_1" },
      ]);
      for (const tool of odd) {
        await submit(page, `${row(tool)} button[name=remove]`);
        await expect(page.textContent("#confirm h2")).resolves.toContain(`Remove the override of ${tool}?`);
        await submit(page, "#confirm button[type=submit]");
        await expect(page.textContent(".flash")).resolves.toContain(`Override of ${tool} removed.`);
      }
      expect(await t.db.sql`SELECT tool FROM tool_overrides WHERE server_id = 'ovr'`).toEqual([]);
    },
  );
});
