/**
 * Issue 19, the admin UI: the usage charts on a time axis (and no "1, 1, 0" axis when empty),
 * denied calls attributed to the server their name resolves to, the overview's recent changes
 * inside their card, a confirmation step before deletes and revokes, a refresh message naming
 * the server, auth events in the audit log (sign-in, sign-out, refused credentials, bounded),
 * one target format for tool calls, and the API reference's query hints. Real stack: workerd,
 * Postgres, the local OIDC provider, demo upstreams, an MCP SDK client and Chromium.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../harness/browser";
import { CHROMIUM_ARGS, signIn, submitAndLoad } from "../harness/admin-browser";
import { startTestStack, type TestStack } from "../harness/stack";

const ARTIFACTS = resolve(__dirname, "../artifacts");
const ARGS = CHROMIUM_ARGS;

let t: TestStack;
let browser: Browser;
let admin: BrowserContext;
let page: Page;

async function shot(p: Page, name: string) {
  await p.screenshot({ path: resolve(ARTIFACTS, `polish-${name}.png`), fullPage: true });
}

const login = (ctx: BrowserContext, email: string, password: string, path?: string) =>
  signIn(ctx, t.url, email, password, path);

const submit = submitAndLoad;

const api = (path: string, init: RequestInit & { json?: unknown } = {}) =>
  t.fetch(`/admin/api${path}`, { key: t.adminKey, ...init });

/** Polls until `check` returns a value (audit rows are written after the response). */
async function until<T>(check: () => Promise<T | undefined | null | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Calls a tool on /mcp with a real SDK client; a refused name answers an error. */
async function callTool(key: string, name: string): Promise<"ok" | "refused"> {
  const client = new Client({ name: "polish-test", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
    }),
  );
  try {
    const r = await client.callTool({ name, arguments: { message: "hi" } });
    return r.isError ? "refused" : "ok";
  } catch {
    return "refused";
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  t = await startTestStack({ demo: true, echo: process.env.POLISH_ECHO === "1" });
  browser = await launchChromium(ARGS);
  admin = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  page = await login(admin, "admin@localhost", "admin");
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

describe("usage charts", () => {
  it("an empty window shows no value axis (no '1, 1, 0'), only the message, and a time axis", async () => {
    await page.goto(`${t.url}/admin/reports?range=1h`);
    for (const chart of ["tool calls over time", "latency over time"]) {
      const svg = page.locator(`svg[aria-label='${chart}']`);
      // the value labels are the right-aligned texts left of the plot
      expect(await svg.locator("text[text-anchor=end]").allTextContents(), chart).toEqual([]);
      await expect(svg.textContent()).resolves.toMatch(/no (tool calls|latency data) in this window/);
      const ticks = await svg.locator(".time-axis text").allTextContents();
      expect(ticks.length, chart).toBeGreaterThanOrEqual(4);
      for (const x of ticks) expect(x).toMatch(/^\d\d:\d\d$/);
    }
    await shot(page, "reports-empty");
  });

  it("places latency points and call bars by their time, not their order", async () => {
    const now = Date.now();
    const minute = (ago: number) => new Date(Math.floor((now - ago * 60_000) / 60_000) * 60_000 + 5_000);
    // three buckets 55, 50 and 5 minutes ago: by order they would sit evenly, by time 5 : 45 apart
    for (const [ago, ms] of [
      [55, 100],
      [50, 200],
      [5, 400],
    ] as const) {
      await t.db.sql`INSERT INTO audit_log (kind, at, actor, action, target, server_id, tool, outcome, duration_ms)
        VALUES ('tool_call', ${minute(ago)}, 'chart@example.com', 'tools/call', 'everything/echo', 'everything', 'echo', 'ok', ${ms})`;
    }
    await page.goto(`${t.url}/admin/reports?range=1h`);
    const at = (ago: number) => new Date(Math.floor((now - ago * 60_000) / 60_000) * 60_000).toISOString();
    const cx = async (ago: number) =>
      Number(
        await page
          .locator(`svg[aria-label='latency over time'] g.point[data-at='${at(ago)}'] circle`)
          .first()
          .getAttribute("cx"),
      );
    const [a, b, c] = [await cx(55), await cx(50), await cx(5)];
    expect((b - a) / (c - a)).toBeCloseTo(5 / 50, 2);
    const bx = async (ago: number) =>
      Number(
        await page
          .locator(`svg[aria-label='tool calls over time'] g.bucket[data-at='${at(ago)}'] rect`)
          .first()
          .getAttribute("x"),
      );
    const [p, q, r] = [await bx(55), await bx(50), await bx(5)];
    expect((q - p) / (r - p)).toBeCloseTo(5 / 50, 2);
    // a value axis now that there is data, whole numbers only for counts
    const counts = await page.locator("svg[aria-label='tool calls over time'] text[text-anchor=end]").allTextContents();
    expect(counts).toEqual(["0", "1"]);
    const ms = await page.locator("svg[aria-label='latency over time'] text[text-anchor=end]").allTextContents();
    expect(ms).toEqual(["0 ms", "250 ms", "500 ms"]);
    await shot(page, "reports-time");
  });
});

describe("denied calls in usage and audit", () => {
  let key = "";
  beforeAll(async () => {
    expect((await api("/users/nobody@example.com", { method: "PUT", json: { groups: [] } })).status).toBe(201);
    const issued = await api("/users/nobody@example.com/keys", { method: "POST", json: { name: "t" } });
    key = ((await issued.json()) as { key: string }).key;
    expect(await callTool(key, "everything__echo")).toBe("refused");
    expect(await callTool(key, "no-such-server__thing")).toBe("refused");
    expect(await callTool(key, "__everything__echo")).toBe("refused");
    expect(await callTool(t.adminKey, "everything__echo")).toBe("ok");
    await until(
      async () =>
        (
          await t.db
            .sql`SELECT count(*)::int AS n FROM audit_log WHERE kind = 'tool_call' AND actor = 'nobody@example.com'`
        )[0]!.n >= 3,
    );
    await until(
      async () =>
        (
          await t.db
            .sql`SELECT count(*)::int AS n FROM audit_log WHERE kind = 'tool_call' AND actor = 'admin@localhost' AND outcome = 'ok'`
        )[0]!.n >= 1,
    );
  }, 60_000);

  it("counts a denied call under the server and tenant its name resolves to, else under one (unknown tool) row", async () => {
    const [srv] = await t.db.sql`SELECT tenant_id FROM servers WHERE id = 'everything'`;
    const r = (await (await api("/reports/usage?user=nobody@example.com&bucket=minute")).json()) as any;
    expect(r.totals).toMatchObject({ calls: 3, denied: 3 });
    const keys = (d: string) => r.by[d].map((x: any) => x.key).sort();
    expect(keys("tenant")).toEqual([srv!.tenant_id, "(unknown tool)"].sort());
    expect(keys("server")).toEqual(["(unknown tool)", "everything"]);
    expect(keys("tool")).toEqual(["(unknown tool)", "everything__echo"]);
    expect(r.by.tool.find((x: any) => x.key === "everything__echo")).toMatchObject({ calls: 1, denied: 1 });
    expect(r.by.tool.find((x: any) => x.key === "(unknown tool)")).toMatchObject({ calls: 2, denied: 2 });
    // filters see the attribution: the server's report holds the denied call and the admin's call
    const s = (await (await api("/reports/usage?server=everything&tool=echo&bucket=minute")).json()) as any;
    expect(s.totals.denied).toBe(1);
    expect(s.by.user.map((x: any) => x.key).sort()).toEqual([
      "admin@localhost",
      "chart@example.com",
      "nobody@example.com",
    ]);
    // a server deleted since still reads "(deleted)", never a tenant that exists
    await t.db
      .sql`INSERT INTO audit_log (kind, actor, action, target, server_id, tool, outcome, duration_ms) VALUES ('tool_call', 'gone@example.com', 'tools/call', 'gone/x', 'gone', 'x', 'ok', 3)`;
    const g = (await (await api("/reports/usage?user=gone@example.com")).json()) as any;
    expect(g.by.tenant.map((x: any) => x.key)).toEqual(["(deleted)"]);
    expect(g.by.tool.map((x: any) => x.key)).toEqual(["gone__x"]);
  });

  it("shows the attribution on the Usage page", async () => {
    await page.goto(`${t.url}/admin/reports?range=1h`);
    const main = (await page.textContent("main"))!;
    const [srv] = await t.db.sql`SELECT tenant_id FROM servers WHERE id = 'everything'`;
    const tenants = (await page.locator("section.card", { hasText: "Tenants" }).locator("table tbody").textContent())!;
    expect(tenants).toContain("(unknown tool)");
    expect(tenants).toContain(srv!.tenant_id);
    const tools = await page
      .locator("section.card", { hasText: "Tools" })
      .locator("table tbody td:first-child")
      .allTextContents();
    expect(tools).toContain("everything__echo");
    expect(tools.filter((x) => x.startsWith("__") || x === "")).toEqual([]);
    await shot(page, "reports-denied");
  });

  it("formats every tool call's target one way, <server>/<tool>, in the API and the UI, and finds denied calls by server", async () => {
    const denied = (await (await api("/audit?kind=tool_call&actor=nobody@example.com")).json()) as any;
    expect(denied.entries.map((e: any) => e.target).sort()).toEqual([
      "__everything__echo",
      "everything/echo",
      "no-such-server/thing",
    ]);
    const ok = (await (await api("/audit?kind=tool_call&actor=admin@localhost")).json()) as any;
    expect(ok.entries[0].target).toBe("everything/echo");
    const byServer = (await (await api("/audit?kind=tool_call&server=everything")).json()) as any;
    expect(byServer.entries.map((e: any) => e.actor)).toContain("nobody@example.com");
    await page.goto(`${t.url}/admin/audit?kind=tool_call`);
    const text = (await page.textContent("main table"))!;
    expect(text).toContain("everything/echo");
    expect(text).not.toMatch(/(^|[^_])everything__echo/);
  });
});

describe("overview", () => {
  it("keeps the recent-changes table inside its card", async () => {
    // a change with long names, as admins make them
    expect(
      (
        await api("/tenants/a-tenant-with-a-rather-long-id", {
          method: "PUT",
          json: { name: "A tenant whose name is long enough to wrap" },
        })
      ).status,
    ).toBe(201);
    expect(
      (await api("/users/someone.with.a.long.address@departments.example.com", { method: "PUT", json: { groups: [] } }))
        .status,
    ).toBe(201);
    await page.goto(`${t.url}/admin`);
    // closed, and with every detail (the change's JSON) opened
    for (const open of [false, true]) {
      const fit = await page.evaluate((open) => {
        const d = (globalThis as any).document;
        const card = [...d.querySelectorAll("section.card")].find(
          (s: any) => s.querySelector("h2")?.textContent === "Recent admin changes",
        ) as any;
        if (open) for (const x of card.querySelectorAll("details")) x.open = true;
        const table = card.querySelector("table");
        return {
          card: card.getBoundingClientRect().right,
          table: table.getBoundingClientRect().right,
          scroll: card.scrollWidth,
          width: card.clientWidth,
        };
      }, open);
      expect(fit.table, `details open: ${open}`).toBeLessThanOrEqual(fit.card);
      expect(fit.scroll, `details open: ${open}`).toBeLessThanOrEqual(fit.width);
    }
    await shot(page, "overview");
  });
});

describe("confirmation before deleting", () => {
  it("asks on a page of its own, Cancel keeps the tenant, the confirm button (with its CSRF token) deletes it", async () => {
    expect((await api("/tenants/doomed", { method: "PUT", json: { name: "Doomed" } })).status).toBe(201);
    await page.goto(`${t.url}/admin/tenants`);
    await submit(page, "form[action='/admin/tenants/doomed/delete'] button");
    await expect(page.textContent("#confirm h2")).resolves.toBe("Delete tenant doomed?");
    expect(await t.db.sql`SELECT id FROM tenants WHERE id = 'doomed'`).toHaveLength(1);
    await shot(page, "confirm");
    await submit(page, "#confirm-cancel");
    expect(new URL(page.url()).pathname).toBe("/admin/tenants");
    expect(await t.db.sql`SELECT id FROM tenants WHERE id = 'doomed'`).toHaveLength(1);
    await submit(page, "form[action='/admin/tenants/doomed/delete'] button");
    await submit(page, "#confirm form button[type=submit]");
    await expect(page.textContent("[role=status]")).resolves.toContain("Tenant doomed deleted");
    expect(await t.db.sql`SELECT id FROM tenants WHERE id = 'doomed'`).toHaveLength(0);
  });

  it("asks before deleting a user or revoking a key too, and the confirmation still needs the CSRF token", async () => {
    const issued = await api("/users/nobody@example.com/keys", { method: "POST", json: { name: "to-revoke" } });
    const { id } = (await issued.json()) as { id: string };
    await page.goto(`${t.url}/admin/users/nobody%40example.com`);
    await submit(page, `form[action$='/keys/${id}/revoke'] button`);
    await expect(page.textContent("#confirm h2")).resolves.toBe(`Revoke key ${id}?`);
    expect((await t.db.sql`SELECT revoked_at FROM api_keys WHERE id = ${id}`)[0]!.revoked_at).toBeNull();
    // the confirmation without a token is refused like any form
    const forged = await admin.request.post(`${t.url}/admin/users/nobody%40example.com/keys/${id}/revoke`, {
      form: { confirm: "yes" },
      headers: { Origin: t.url },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    expect((await t.db.sql`SELECT revoked_at FROM api_keys WHERE id = ${id}`)[0]!.revoked_at).toBeNull();
    await submit(page, "#confirm form button[type=submit]");
    await expect(page.textContent("[role=status]")).resolves.toContain(`Key ${id} revoked`);
    expect((await t.db.sql`SELECT revoked_at FROM api_keys WHERE id = ${id}`)[0]!.revoked_at).not.toBeNull();
    await page.goto(`${t.url}/admin/users/nobody%40example.com`);
    await submit(page, "form[action$='/delete'] button");
    await expect(page.textContent("#confirm h2")).resolves.toBe("Delete user nobody@example.com?");
    expect(await t.db.sql`SELECT email FROM users WHERE email = 'nobody@example.com'`).toHaveLength(1);
  });
});

describe("refresh", () => {
  it("says which server it re-lists", async () => {
    await page.goto(`${t.url}/admin/health`);
    await submit(page, "form[action='/admin/servers/everything/refresh'] button");
    await expect(page.textContent("[role=status]")).resolves.toBe(
      "Asked the catalog to re-list the server everything.",
    );
  });
});

describe("auth events in the audit log", () => {
  it("records the sign-in, and shows it under kind=auth", async () => {
    const r = (await (await api("/audit?kind=auth&actor=admin@localhost&action=login")).json()) as any;
    expect(r.entries.length).toBeGreaterThanOrEqual(1);
    expect(r.entries[0]).toMatchObject({ kind: "auth", action: "login", outcome: "ok", actor: "admin@localhost" });
    await page.goto(`${t.url}/admin/audit?kind=auth`);
    await expect(page.textContent("main table")).resolves.toContain("login");
    await shot(page, "audit-auth");
  });

  it("records a sign-in the identity provider refused, with the reason", async () => {
    // a real login state from /auth/login (its cookie and the state it sent to the provider),
    // then the provider's redirect back with an error, as after a denied consent
    const start = await t.fetch("/auth/login?rd=%2Fadmin", { redirect: "manual" });
    expect(start.status).toBe(302);
    const state = new URL(start.headers.get("location")!).searchParams.get("state")!;
    const cookie = (start.headers as Headers & { getSetCookie(): string[] })
      .getSetCookie()
      .map((x) => x.split(";")[0])
      .join("; ");
    const back = await t.fetch(`/auth/callback?state=${state}&error=access_denied`, {
      redirect: "manual",
      headers: { cookie },
    });
    expect(back.status).toBe(401);
    const row = await until(
      async () =>
        (
          await t.db
            .sql`SELECT * FROM audit_log WHERE kind = 'auth' AND action = 'login.refused' ORDER BY id DESC LIMIT 1`
        )[0],
    );
    expect(row).toMatchObject({ actor: "(unknown)", outcome: "refused" });
    expect(row.detail).toMatchObject({ via: "oidc", reason: "the identity provider answered: access_denied" });
    // a replayed state is refused before anything is recorded (it is not a sign-in attempt)
    const again = await t.fetch(`/auth/callback?state=${state}&error=access_denied`, {
      redirect: "manual",
      headers: { cookie },
    });
    expect(again.status).toBe(400);
    const [{ n }] = (await t.db.sql`SELECT count(*)::int AS n FROM audit_log WHERE action = 'login.refused'`) as any;
    expect(n).toBe(1);
  });

  it("records a refused credential without the credential, and bounds a flood", async () => {
    const secret = `mcpgw_bogus_${"x".repeat(8)}${Date.now()}`;
    expect(
      (await t.fetch("/admin/api/whoami", { key: secret, headers: { "X-Forwarded-For": "203.0.113.9" } })).status,
    ).toBe(401);
    const row = await until(
      async () =>
        (
          await t.db
            .sql`SELECT * FROM audit_log WHERE kind = 'auth' AND action = 'credential.refused' ORDER BY id DESC LIMIT 1`
        )[0],
    ).catch((e) => {
      console.log(t.workerd.output().split("\n").slice(-30).join("\n"));
      throw e;
    });
    expect(row).toMatchObject({ actor: "(unknown)", outcome: "refused" });
    expect(row.detail).toMatchObject({ credential: "api key", path: "/admin/api/whoami" });
    expect(JSON.stringify(row)).not.toContain(secret.slice(12));
    // a flood of bad keys: at most 20 rows a minute
    await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        t.fetch("/mcp", { key: `mcpgw_flood_${i}_${Date.now()}`, method: "POST", json: {} }),
      ),
    );
    await new Promise((r) => setTimeout(r, 1500));
    const [{ n }] = (await t.db
      .sql`SELECT count(*)::int AS n FROM audit_log WHERE kind = 'auth' AND action = 'credential.refused' AND at > now() - interval '1 minute'`) as any;
    expect(n).toBeGreaterThanOrEqual(2);
    expect(n).toBeLessThanOrEqual(20);
    const leaked = await t.db
      .sql`SELECT id FROM audit_log WHERE detail::text LIKE '%mcpgw_flood%' OR target LIKE '%mcpgw_flood%'`;
    expect(leaked).toHaveLength(0);
  });

  it("records the sign-out", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 600 } });
    const p = await login(ctx, "admin@localhost", "admin");
    const before = (
      await t.db
        .sql`SELECT count(*)::int AS n FROM audit_log WHERE kind = 'auth' AND action = 'logout' AND actor = 'admin@localhost'`
    )[0]!.n;
    await Promise.all([
      p.waitForURL((u) => u.pathname === "/auth/logged-out", { timeout: 15_000 }),
      p.click("header form.signout button[type=submit]"),
    ]);
    const after = (
      await t.db
        .sql`SELECT count(*)::int AS n FROM audit_log WHERE kind = 'auth' AND action = 'logout' AND actor = 'admin@localhost'`
    )[0]!.n;
    expect(after).toBe(before + 1);
    await ctx.close();
  });
});

describe("API reference", () => {
  it("documents the formats of dates, ranges and kinds in the OpenAPI parameters, and shows them on the docs page", async () => {
    const doc = (await (await api("/openapi.json")).json()) as any;
    const param = (path: string, name: string) => doc.paths[path].get.parameters.find((p: any) => p.name === name);
    for (const [path, name] of [
      ["/admin/api/audit", "since"],
      ["/admin/api/audit", "until"],
      ["/admin/api/changes", "since"],
      ["/admin/api/reports/usage", "since"],
      ["/admin/api/reports/usage", "until"],
    ]) {
      const p = param(path!, name!);
      expect(p.schema, `${path} ${name}`).toMatchObject({ type: "string", format: "date-time" });
      expect(p.description, `${path} ${name}`).toMatch(/ISO 8601.*2026-01-31T00:00:00Z/);
      expect(p.example).toBe("2026-01-31T00:00:00Z");
    }
    expect(param("/admin/api/audit", "kind").description).toMatch(
      /tool_call.*admin_change.*auth \(sign-ins, sign-outs, refused credentials/,
    );
    expect(param("/admin/api/audit", "limit").description).toMatch(/1-1000/);
    expect(param("/admin/api/reports/usage", "bucket").description).toMatch(/UTC/);
    expect(param("/admin/api/servers/{id}/changes", "state").description).toMatch(/pending/);
    expect(doc.paths["/admin/api/whoami"].get).toBeTruthy();
    await page.goto(`${t.url}/admin/api/docs`);
    const audit = page.locator("section[id='get-/admin/api/audit']");
    await expect(audit.locator("input[name=since]").getAttribute("placeholder")).resolves.toBe("2026-01-31T00:00:00Z");
    await expect(audit.locator("input[name=kind]").getAttribute("placeholder")).resolves.toBe(
      "tool_call | admin_change | auth",
    );
    await expect(audit.textContent()).resolves.toContain("ISO 8601");
  });
});
