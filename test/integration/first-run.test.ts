/**
 * First run (issue 19): every server is listed before any client uses it - at start, and when an
 * admin creates or changes one - in the background (the admin's request does not wait for the
 * upstream), and that first listing is the baseline, not a list of "added" changes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "../harness/stack";
import { startHangingUpstream, startTinyUpstream, tool, type TinyUpstream } from "./catalog.fixture";

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
const api = (path: string, init: RequestInit & { json?: unknown } = {}) => t.fetch(`/admin/api${path}`, { ...init, key: t.adminKey });
const health = async (): Promise<Health[]> => ((await (await api("/health")).json()) as { servers: Health[] }).servers;
const changes = async (server: string) => t.db.sql`SELECT name, change FROM item_changes WHERE server_id = ${server} ORDER BY id`;

beforeAll(async () => {
  [tiny, hanging] = await Promise.all([startTinyUpstream([tool("one"), tool("two")]), startHangingUpstream()]);
  t = await startTestStack({ demo: true, env: { UPSTREAM_TIMEOUT_MS: "4000" } });
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await Promise.all([tiny?.stop(), hanging?.stop()]);
});

describe("first run", () => {
  it("lists every demo server at start, before any client used one, as a baseline without changes", async () => {
    // no MCP request has been made: only the start-up listing can fill these in
    await expect.poll(async () => (await health()).filter((h) => h.enabled && h.ok === null).map((h) => h.server), { timeout: 20_000, interval: 250 }).toEqual([]);
    const listed = (await health()).filter((h) => h.enabled && h.ok);
    expect(listed.length).toBeGreaterThan(0);
    for (const h of listed) expect(h.toolCount, h.server).toBeGreaterThan(0);
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM item_changes`;
    expect(row!.n).toBe(0);
  });

  it("lists a server the admin creates, without the admin's request waiting, and records later changes only", async () => {
    await api("/tenants/first", { method: "PUT", json: { name: "First" } });
    const started = Date.now();
    const slow = await api("/servers/slow", { method: "PUT", json: { tenant: "first", url: hanging.url } });
    expect(slow.status).toBe(201);
    expect(Date.now() - started).toBeLessThan(2000); // the listing (4 s timeout) runs after the answer
    expect((await api("/servers/tiny", { method: "PUT", json: { tenant: "first", url: tiny.url } })).status).toBe(201);
    await expect.poll(async () => (await health()).find((h) => h.server === "tiny")?.toolCount, { timeout: 10_000, interval: 200 }).toBe(2);
    expect(await changes("tiny")).toEqual([]);
    tiny.tools.push(tool("three"));
    expect((await api("/servers/tiny/refresh", { method: "POST" })).status).toBe(202);
    await expect.poll(async () => (await changes("tiny")).map((r) => `${r.change} ${r.name}`), { timeout: 10_000, interval: 200 }).toEqual(["added three"]);
    await expect.poll(async () => (await health()).find((h) => h.server === "slow")?.ok, { timeout: 10_000, interval: 250 }).toBe(false);
  });
});
