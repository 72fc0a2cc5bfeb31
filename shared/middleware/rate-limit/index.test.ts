// Per-isolate behaviour (no database); the shared-counter path across two workerd processes is
// tested in test/integration/fuzz-limits.test.ts.
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { rateLimit, WindowCounters } from ".";

function appWith(limit: number, counters = new WindowCounters()) {
  return new Hono()
    .use("*", rateLimit({ limit: () => limit, subject: (c) => c.req.header("x-user") ?? null, counters }))
    .all("*", (c) => c.json({ ok: true }));
}

describe("rateLimit", () => {
  it("admits `limit` requests per subject per minute, then 429 with Retry-After", async () => {
    const app = appWith(3);
    for (let i = 0; i < 3; i++)
      expect((await app.request("/admin/api/x", { headers: { "x-user": "a@x" } })).status).toBe(200);
    const refused = await app.request("/admin/api/x", { headers: { "x-user": "a@x" } });
    expect(refused.status).toBe(429);
    const retry = Number(refused.headers.get("retry-after"));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(await refused.json()).toMatchObject({ error: "rate_limited" });
    const mcp = await app.request("/mcp", { method: "POST", headers: { "x-user": "a@x" } });
    expect(await mcp.json()).toMatchObject({
      jsonrpc: "2.0",
      error: { code: -32000, data: { error: "rate_limited" } },
    });
    // other subjects and unauthenticated requests are not limited by a's budget
    expect((await app.request("/x", { headers: { "x-user": "b@x" } })).status).toBe(200);
    expect((await app.request("/x")).status).toBe(200);
  });

  it("is off with a limit of 0", async () => {
    const app = appWith(0);
    for (let i = 0; i < 5; i++) expect((await app.request("/x", { headers: { "x-user": "a@x" } })).status).toBe(200);
  });

  it("starts a new budget with the next window", () => {
    const counters = new WindowCounters();
    const e = counters.entry("a", 60_000 * 10 + 5);
    e.pending = 9;
    expect(counters.entry("a", 60_000 * 10 + 59_999).pending).toBe(9);
    expect(counters.entry("a", 60_000 * 11).pending).toBe(0);
  });
});
