/**
 * Issue 16, admin UI: the health page and `GET /admin/api/health` show the live figures per server
 * (rate, error ratio, p50/p95) of real tool calls made through the gateway to a real upstream
 * (server-everything), real workerd and Postgres; the page in headless Chromium.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser } from "playwright-core";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEverything, type Upstream } from "../../scripts/lib/upstreams";
import type { LiveFigures } from "../../shared/repos/reports.repo";
import { launchChromium } from "../harness/browser";
import { startTestStack, type TestStack } from "../harness/stack";

const ARTIFACTS = resolve(__dirname, "../artifacts");
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

let t: TestStack;
let up: Upstream;
let userKey: string;

/** The answer's per-server figures, as the repository computes them. */
type Live = LiveFigures;

async function health(): Promise<{ windowSeconds: number; servers: { server: string; live: Live }[] }> {
  const r = await t.fetch("/admin/api/health", { key: t.adminKey });
  expect(r.status).toBe(200);
  return (await r.json()) as any;
}

/** Waits until the audit rows the mcp worker writes after each response are all in (batched, ~100 ms). */
async function liveOf(server: string, calls: number): Promise<Live> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const s = (await health()).servers.find((x) => x.server === server)!;
    if (s.live.calls >= calls || Date.now() > deadline) return s.live;
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  up = await startEverything("health-live");
  t = await startTestStack();
  const put = async (path: string, json: unknown) =>
    expect((await t.fetch(`/admin/api${path}`, { method: "PUT", key: t.adminKey, json })).status).toBe(201);
  await put("/tenants/acme", { name: "Acme" });
  await put("/servers/busy", { tenant: "acme", url: up.url });
  await put("/servers/quiet", { tenant: "acme", url: up.url });
  await put("/groups/eng", { tenants: ["acme"] });
  userKey = await t.userKey("dana@example.test", { groups: ["eng"] });

  // real calls through the gateway: 6 quick echoes, 1 refused by the upstream (no message), one of ~600 ms
  const client = new Client({ name: "health-live-test", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${t.url}/mcp/busy`), {
      requestInit: { headers: { Authorization: `Bearer ${userKey}` } },
    }),
  );
  for (let i = 0; i < 6; i++)
    expect((await client.callTool({ name: "echo", arguments: { message: `m${i}` } })).isError).toBeFalsy();
  const bad = await client.callTool({ name: "echo", arguments: {} }).then(
    (r) => r.isError === true,
    () => true,
  );
  expect(bad).toBe(true);
  await client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 0.6, steps: 2 } });
  // a refused name is counted nowhere (it is the client's text, not one of the server's calls)
  await client.callTool({ name: "no-such-tool", arguments: {} }).catch(() => undefined);
  await client.close();
}, 180_000);

afterAll(async () => {
  await t?.stop();
  await up?.proc.stop();
});

describe("live figures per server", () => {
  it("GET /admin/api/health gives each server's rate, error ratio and p50/p95 of the real calls of the window", async () => {
    const live = await liveOf("busy", 8);
    const h = await health();
    expect(h.windowSeconds).toBe(300);
    expect(live.calls).toBe(8);
    expect(live.errors).toBe(1);
    expect(live.errorRatio).toBeCloseTo(1 / 8, 5);
    expect(live.rate).toBeCloseTo(8 / 300, 5);
    // six quick echoes and one of ~600 ms: the median is a quick call, the 95th percentile near the slow one
    expect(live.p50Ms).not.toBeNull();
    expect(live.p50Ms!).toBeLessThan(300);
    expect(live.p95Ms!).toBeGreaterThanOrEqual(300);
    // a server without calls: zeros, no ratio or percentiles
    expect(h.servers.find((s) => s.server === "quiet")!.live).toEqual({
      calls: 0,
      errors: 0,
      rate: 0,
      errorRatio: null,
      p50Ms: null,
      p95Ms: null,
    });
    // the OpenAPI document describes the figures
    const doc = (await (await t.fetch("/admin/api/openapi.json", { key: t.adminKey })).json()) as any;
    expect(JSON.stringify(doc)).toContain("errorRatio");
  });

  it("calls older than the window drop out", async () => {
    await t.db
      .sql`UPDATE audit_log SET at = now() - interval '6 minutes' WHERE kind = 'tool_call' AND server_id = 'quiet'`;
    await t.db.sql`INSERT INTO audit_log (kind, actor, action, server_id, tool, outcome, duration_ms, at)
      VALUES ('tool_call', 'dana@example.test', 'tools/call', 'quiet', 'echo', 'ok', 5, now() - interval '6 minutes')`;
    const h = await health();
    expect(h.servers.find((s) => s.server === "quiet")!.live.calls).toBe(0);
  });

  it("the health page shows the figures in Chromium", async () => {
    let browser: Browser | undefined;
    try {
      browser = await launchChromium(ARGS);
      const { cookie } = await t.login("admin@localhost", { password: "admin" });
      const [name, ...rest] = cookie.split("=");
      const ctx = await browser.newContext({ viewport: { width: 1366, height: 800 } });
      await ctx.addCookies([{ name: name!, value: rest.join("="), url: t.url }]);
      const page = await ctx.newPage();
      await page.goto(`${t.url}/admin/health`);
      const row = page.locator("#live tr[data-server=busy]");
      await expect(row.locator("[data-figure=calls]").textContent()).resolves.toBe("8");
      await expect(row.locator("[data-figure=rate]").textContent()).resolves.toBe("1.6/min");
      await expect(row.locator("[data-figure=errors]").textContent()).resolves.toBe("12.5%");
      expect(await row.locator("[data-figure=p50]").textContent()).toMatch(/^\d+ ms$/);
      const p95 = Number((await row.locator("[data-figure=p95]").textContent())!.replace(" ms", ""));
      expect(p95).toBeGreaterThanOrEqual(300);
      const quiet = page.locator("#live tr[data-server=quiet]");
      await expect(quiet.locator("[data-figure=calls]").textContent()).resolves.toBe("0");
      await expect(quiet.locator("[data-figure=p95]").textContent()).resolves.toBe("—");
      await page.screenshot({ path: resolve(ARTIFACTS, "admin-health-live.png"), fullPage: true });
    } finally {
      await browser?.close();
    }
  });
});
