/**
 * First run (issue 19): every server is listed before any client uses it - at start, and when an
 * admin creates or changes one - in the background (the admin's request does not wait for the
 * upstream), and that first listing is the baseline, not a list of "added" changes. An upstream
 * that fails says what failed (DNS, refused, TLS, HTTP status, timeout, not MCP) and what to
 * check, in the health view (API and the page in Chromium) and in the error a client's call gets.
 * `/mcp` advertises `listChanged` and tells open sessions of both eras (the session era's GET
 * stream, 2026-07-28's `subscriptions/listen`) when what the user sees changes through the admin
 * API: a grant given or taken, a server disabled or enabled, a tool rule.
 */
import { createServer, type Server as HttpServer } from "node:http";
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from "@modelcontextprotocol/client";
import { Client as Client1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as Transport1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  PromptListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/ports";
import { launchChromium } from "../harness/browser";
import { startTestStack, type TestStack } from "../harness/stack";
import { deadUrl, startHangingUpstream, startTinyUpstream, tool, type TinyUpstream } from "./catalog.fixture";
import { gatewayClient } from "./mcp.fixture";

let t: TestStack;
let tiny: TinyUpstream;
let hanging: { url: string; stop(): Promise<void> };

interface Health {
  server: string;
  enabled: boolean;
  ok: boolean | null;
  error: string | null;
  toolCount: number;
}
const api = (path: string, init: RequestInit & { json?: unknown } = {}) =>
  t.fetch(`/admin/api${path}`, { ...init, key: t.adminKey });
const health = async (): Promise<Health[]> => ((await (await api("/health")).json()) as { servers: Health[] }).servers;
const changes = async (server: string) =>
  t.db.sql`SELECT name, change FROM item_changes WHERE server_id = ${server} ORDER BY id`;

beforeAll(async () => {
  [tiny, hanging] = await Promise.all([startTinyUpstream([tool("one"), tool("two")]), startHangingUpstream()]);
  t = await startTestStack({ demo: true, env: { UPSTREAM_TIMEOUT_MS: "4000" } });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await Promise.all([tiny?.stop(), hanging?.stop()]);
  if (plain) {
    plain.closeAllConnections();
    await new Promise((r) => plain!.close(r));
  }
});

let browser: Browser | undefined;
let page: Page | undefined;
/** The text of an admin page in Chromium, signed in as the demo admin through the real login (once). */
async function adminPageText(path: string, selector = "main"): Promise<string> {
  if (!page) {
    browser = await launchChromium(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]);
    page = await (await browser.newContext()).newPage();
    await page.goto(`${t.url}${path}`);
    await page.waitForSelector("form#login");
    await page.fill("input[name=email]", "admin@localhost");
    await page.fill("input[name=password]", "admin");
    await Promise.all([
      page.waitForURL((u) => u.pathname === new URL(path, t.url).pathname),
      page.click("form#login button[type=submit]"),
    ]);
  } else {
    await page.goto(`${t.url}${path}`);
  }
  return (await page.textContent(selector))!;
}

/** A plain HTTP server that is no MCP server: /html answers a web page, /<status> that status. */
let plain: HttpServer | undefined;
async function startPlain(): Promise<number> {
  const port = await freePort();
  plain = createServer((req, res) => {
    if (req.url?.startsWith("/html"))
      return void res.writeHead(200, { "content-type": "text/html" }).end("<html><body>a web page</body></html>");
    res.writeHead(Number(req.url!.slice(1, 4)) || 500, { "content-type": "text/plain" }).end("nope");
  });
  await new Promise<void>((r) => plain!.listen(port, "127.0.0.1", () => r()));
  return port;
}

describe("first run", () => {
  it("lists every demo server at start, before any client used one, as a baseline without changes", async () => {
    // no MCP request has been made: only the start-up listing can fill these in
    await expect
      .poll(async () => (await health()).filter((h) => h.enabled && h.ok === null).map((h) => h.server), {
        timeout: 20_000,
        interval: 250,
      })
      .toEqual([]);
    const listed = (await health()).filter((h) => h.enabled && h.ok);
    expect(listed.length).toBeGreaterThan(0);
    for (const h of listed) expect(h.toolCount, h.server).toBeGreaterThan(0);
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM item_changes`;
    expect(row!.n).toBe(0);
  });

  it("shows the start-up listing in the access explorer and no tool changes, in Chromium", async () => {
    const listed = new Set((await health()).filter((h) => h.ok).map((h) => h.server));
    const rows = await (async () => {
      await adminPageText("/admin/access?email=joelalama%40google.com");
      return page!.$$eval("#visible-servers tbody tr", (trs) =>
        trs.map((tr) => ({
          id: tr.querySelector("code")?.textContent ?? "",
          tools: tr.querySelectorAll(".pill.ok").length,
          text: tr.textContent ?? "",
        })),
      );
    })();
    const shown = rows.filter((r) => listed.has(r.id));
    expect(shown.length).toBeGreaterThan(0);
    for (const r of shown) {
      expect(r.tools, r.id).toBeGreaterThan(0);
      expect(r.text, r.id).not.toContain("none listed yet");
    }
    expect(await adminPageText("/admin/changes")).toContain("No changes recorded.");
  });

  it("lists a server the admin creates, without the admin's request waiting, and records later changes only", async () => {
    await api("/tenants/first", { method: "PUT", json: { name: "First" } });
    const started = Date.now();
    const slow = await api("/servers/slow", { method: "PUT", json: { tenant: "first", url: hanging.url } });
    expect(slow.status).toBe(201);
    expect(Date.now() - started).toBeLessThan(2000); // the listing (4 s timeout) runs after the answer
    expect((await api("/servers/tiny", { method: "PUT", json: { tenant: "first", url: tiny.url } })).status).toBe(201);
    await expect
      .poll(async () => (await health()).find((h) => h.server === "tiny")?.toolCount, {
        timeout: 10_000,
        interval: 200,
      })
      .toBe(2);
    expect(await changes("tiny")).toEqual([]);
    tiny.tools.push(tool("three"));
    expect((await api("/servers/tiny/refresh", { method: "POST" })).status).toBe(202);
    await expect
      .poll(async () => (await changes("tiny")).map((r) => `${r.change} ${r.name}`), { timeout: 10_000, interval: 200 })
      .toEqual(["added three"]);
    await expect
      .poll(async () => (await health()).find((h) => h.server === "slow")?.ok, { timeout: 10_000, interval: 250 })
      .toBe(false);
  });
});

describe("upstream failures say what failed and what to check", () => {
  let urls: Record<string, string>;
  const expected: Record<string, RegExp> = {
    "bad-dns": /^DNS lookup of no-such-host\.invalid failed - check the host name in the server's URL/,
    "bad-port": /^connection refused by 127\.0\.0\.1:\d+ - nothing listens there: check the URL's port/,
    "bad-tls": /^TLS handshake with 127\.0\.0\.1:\d+ failed - check that the server speaks https on this port/,
    "bad-404": /HTTP 404 .* - check the URL's path/,
    "bad-401": /HTTP 401 .* - check the server's stored headers \(its credential\)/,
    "bad-html": /content-type text\/html: not an MCP endpoint - check the URL's path/,
    slow: /^timed out after 4000 ms - the server accepted the connection but did not answer/,
  };

  beforeAll(async () => {
    const port = await startPlain();
    urls = {
      "bad-dns": "http://no-such-host.invalid/mcp",
      "bad-port": await deadUrl(),
      "bad-tls": `https://127.0.0.1:${port}/mcp`,
      "bad-404": `http://127.0.0.1:${port}/404`,
      "bad-401": `http://127.0.0.1:${port}/401`,
      "bad-html": `http://127.0.0.1:${port}/html`,
    };
    await api("/tenants/broken", { method: "PUT", json: { name: "Broken" } });
    for (const [id, url] of Object.entries(urls))
      expect((await api(`/servers/${id}`, { method: "PUT", json: { tenant: "broken", url } })).status).toBe(201);
  });

  it("in the health view of the admin API", async () => {
    const ids = Object.keys(expected);
    await expect
      .poll(async () => (await health()).filter((h) => ids.includes(h.server) && h.ok === false).length, {
        timeout: 20_000,
        interval: 250,
      })
      .toBe(ids.length);
    for (const h of (await health()).filter((x) => ids.includes(x.server))) {
      expect(h.error, h.server).toMatch(expected[h.server]!);
      expect(h.error, h.server).not.toMatch(/internal error; reference|Network connection lost/);
    }
  });

  it("on the Health page, in Chromium", async () => {
    const text = await adminPageText("/admin/health");
    expect(text).toContain("DNS lookup of no-such-host.invalid failed");
    expect(text).toMatch(/connection refused by 127\.0\.0\.1:\d+ - nothing listens there/);
    expect(text).toMatch(/TLS handshake with 127\.0\.0\.1:\d+ failed/);
    expect(text).not.toMatch(/internal error; reference|Network connection lost/);
  });

  it("in the JSON-RPC error a client's call gets, when a listed server stops answering", async () => {
    const up = await startTinyUpstream([tool("ping")]);
    try {
      await api("/tenants/moving", { method: "PUT", json: { name: "Moving" } });
      await api("/servers/moving", { method: "PUT", json: { tenant: "moving", url: up.url } });
      await api("/groups/movers", { method: "PUT", json: { tenants: ["moving"] } });
      const key = await t.userKey("mover@first.test", { groups: ["movers"] });
      await expect
        .poll(async () => (await health()).find((h) => h.server === "moving")?.toolCount, {
          timeout: 10_000,
          interval: 200,
        })
        .toBe(1);
      const { client } = await gatewayClient(t.url, "/mcp", key);
      try {
        expect((await client.listTools()).tools.map((x) => x.name)).toEqual(["moving__ping"]);
        const callError = async () =>
          String(
            await client.callTool({ name: "moving__ping", arguments: {} }).then(
              () => "answered",
              (e: unknown) => (e as Error).message,
            ),
          );
        // the server moves away: its last listing stays, so the tool is still offered and its call fails
        // (the client is told what failed and what the admin should check, but not the upstream's address)
        const toClient: Record<string, RegExp> = {
          "bad-dns":
            /upstream moving: DNS lookup of the server's host failed - check the host name in the server's URL/,
          "bad-port":
            /upstream moving: connection refused by the server's address - nothing listens there: check the URL's port/,
          "bad-tls":
            /upstream moving: TLS handshake with the server's address failed - check that the server speaks https on this port/,
        };
        for (const [id, want] of Object.entries(toClient)) {
          await api("/servers/moving", { method: "PUT", json: { tenant: "moving", url: urls[id] } });
          await expect.poll(callError, { timeout: 10_000, interval: 300 }).toMatch(want);
          const said = await callError();
          expect(said).not.toMatch(/internal error; reference|Network connection lost/);
          expect(said).not.toContain(new URL(urls[id]!).host);
        }
      } finally {
        await client.close();
      }
    } finally {
      await up.stop();
    }
  });
});

describe("open sessions hear of a change to what the user sees", () => {
  /** How long after the admin API answered a notification may arrive (ms). */
  const BOUND = 5000;

  it("on the session era's GET stream and on subscriptions/listen: grant, tool rule, server disabled and enabled, grant removed", async () => {
    const up = await startTinyUpstream([tool("read"), tool("write")], [{ name: "greet", description: "says hello" }]);
    const email = "watcher@first.test";
    const c1 = new Client1({ name: "legacy-watcher", version: "1.0.0" });
    let c2: Client2 | undefined;
    try {
      await api("/tenants/notes", { method: "PUT", json: { name: "Notes" } });
      await api("/servers/notes", { method: "PUT", json: { tenant: "notes", url: up.url } });
      await expect
        .poll(async () => (await health()).find((h) => h.server === "notes")?.toolCount, {
          timeout: 10_000,
          interval: 200,
        })
        .toBe(2);
      await api("/groups/watchers", { method: "PUT", json: { tenants: [] } });
      const key = await t.userKey(email, { groups: ["watchers"] });
      const headers = { Authorization: `Bearer ${key}` };

      const heard = { legacyTools: 0, legacyPrompts: 0, modernTools: 0, modernPrompts: 0 };
      c1.setNotificationHandler(ToolListChangedNotificationSchema, async () => void heard.legacyTools++);
      c1.setNotificationHandler(PromptListChangedNotificationSchema, async () => void heard.legacyPrompts++);
      await c1.connect(new Transport1(new URL(`${t.url}/mcp`), { requestInit: { headers } }));
      expect(c1.getServerCapabilities()).toMatchObject({
        tools: { listChanged: true },
        prompts: { listChanged: true },
        resources: { listChanged: true },
      });

      c2 = new Client2(
        { name: "modern-watcher", version: "2.0.0" },
        { versionNegotiation: { mode: { pin: "2026-07-28" } } },
      );
      c2.setNotificationHandler("notifications/tools/list_changed", async () => void heard.modernTools++);
      c2.setNotificationHandler("notifications/prompts/list_changed", async () => void heard.modernPrompts++);
      await c2.connect(new Transport2(new URL(`${t.url}/mcp`), { requestInit: { headers } }));
      expect(c2.getServerCapabilities()).toMatchObject({
        tools: { listChanged: true },
        prompts: { listChanged: true },
      });
      const sub = await c2.listen({ toolsListChanged: true, promptsListChanged: true });
      await new Promise((r) => setTimeout(r, 1500)); // both streams open and watching

      const tools1 = async () => (await c1.listTools()).tools.map((x) => x.name).sort();
      const tools2 = async () => (await c2!.listTools({}, { cacheMode: "bypass" })).tools.map((x) => x.name).sort();
      /** Makes a change through the admin API and waits for both clients to hear of it within BOUND. */
      const change = async (what: string, path: string, json: unknown, also: "prompts"[] = []) => {
        const before = { ...heard };
        const res = await api(path, { method: "PUT", json });
        expect(res.status, what).toBeLessThan(300);
        const answered = Date.now();
        await expect
          .poll(() => heard.legacyTools > before.legacyTools && heard.modernTools > before.modernTools, {
            timeout: BOUND,
            interval: 50,
            message: `${what}: tools/list_changed on both streams`,
          })
          .toBe(true);
        if (also.includes("prompts")) {
          await expect
            .poll(() => heard.legacyPrompts > before.legacyPrompts && heard.modernPrompts > before.modernPrompts, {
              timeout: BOUND,
              interval: 50,
              message: `${what}: prompts/list_changed`,
            })
            .toBe(true);
        }
        expect(Date.now() - answered, what).toBeLessThan(BOUND);
      };

      expect(await tools1()).toEqual([]);
      await change("grant added", "/groups/watchers", { tenants: ["notes"] }, ["prompts"]);
      expect(await tools1()).toEqual(["notes__read", "notes__write"]);
      expect(await tools2()).toEqual(["notes__read", "notes__write"]);

      await change("tool rule", "/groups/watchers", { tenants: ["notes"], tools: { notes: { deny: ["write"] } } });
      expect(await tools1()).toEqual(["notes__read"]);

      await change("server disabled", "/servers/notes", { tenant: "notes", url: up.url, enabled: false }, ["prompts"]);
      expect(await tools2()).toEqual([]);
      await change("server enabled", "/servers/notes", { tenant: "notes", url: up.url, enabled: true }, ["prompts"]);
      expect(await tools2()).toEqual(["notes__read"]);

      await change("grant removed", "/groups/watchers", { tenants: [] }, ["prompts"]);
      expect(await tools1()).toEqual([]);
      expect(await tools2()).toEqual([]);

      // a change the user cannot see announces nothing
      const quiet = { ...heard };
      await api("/tenants/elsewhere", { method: "PUT", json: { name: "Elsewhere" } });
      await new Promise((r) => setTimeout(r, 2500));
      expect(heard).toEqual(quiet);
      await sub.close();
    } finally {
      await c1.close().catch(() => {});
      await c2?.close().catch(() => {});
      await up.stop();
    }
  }, 90_000);
});
