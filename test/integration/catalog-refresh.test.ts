/**
 * The catalog's refresh policy and transports, on a stack with short settings
 * (CATALOG_REFRESH_SECONDS=2, UPSTREAM_TIMEOUT_MS=4000): a hanging upstream times out without
 * holding up the others, old snapshots are refreshed in the background, and legacy HTTP+SSE
 * servers (the memory server behind supergateway's SSE output) are listed, by configuration or
 * by falling back from Streamable HTTP.
 */
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerHealth, UserCatalog } from "../../shared/catalog.schema";
import { freePort } from "../../scripts/lib/ports";
import { startProcess, waitForPort, type Managed } from "../../scripts/lib/processes";
import { ROOT } from "../../scripts/lib/workers";
import { startBenchUpstream } from "../../bench/upstream";
import { startTestStack, type TestStack } from "../harness/stack";
import { startHangingUpstream, startTinyUpstream, tool, type TinyUpstream } from "./catalog.fixture";

let t: TestStack;
let tiny: TinyUpstream;
let hanging: { url: string; stop(): Promise<void> };
let sse: { url: string; proc: Managed };

async function internal<T = unknown>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await t.internal(path, init);
  return { status: res.status, body: (await res.json()) as T };
}
const catalog = async (email: string) =>
  (await internal<UserCatalog>(`/internal/catalog/${encodeURIComponent(email)}`)).body;
const names = (items: { name?: unknown }[]) => items.map((i) => String(i.name));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The memory server behind supergateway's legacy HTTP+SSE output (GET /sse, POST /message). */
async function startSseMemory(): Promise<{ url: string; proc: Managed }> {
  const port = await freePort();
  const bin = (n: string) => resolve(ROOT, "node_modules/.bin", n);
  const proc = startProcess("memory-sse", bin("supergateway"), [
    "--stdio",
    bin("mcp-server-memory"),
    "--outputTransport",
    "sse",
    "--port",
    String(port),
    "--logLevel",
    "none",
  ]);
  await waitForPort(port, proc);
  return { url: `http://127.0.0.1:${port}/sse`, proc };
}

beforeAll(async () => {
  [tiny, hanging, sse] = await Promise.all([
    startTinyUpstream([tool("one")]),
    startHangingUpstream(),
    startSseMemory(),
  ]);
  t = await startTestStack({ internalPort: 0, env: { CATALOG_REFRESH_SECONDS: "2", UPSTREAM_TIMEOUT_MS: "4000" } });
  const sql = t.db.sql;
  await sql`INSERT INTO tenants (id, name) VALUES ('lab', 'Lab')`;
  await sql`INSERT INTO servers (id, tenant_id, url, transport) VALUES
    ('tiny', 'lab', ${tiny.url}, 'streamable-http'),
    ('hanging', 'lab', ${hanging.url}, 'streamable-http'),
    ('legacy', 'lab', ${sse.url}, 'sse'),
    ('fallback', 'lab', ${sse.url}, 'streamable-http')`;
  await sql`INSERT INTO servers (id, tenant_id, url, enabled) VALUES ('off', 'lab', ${tiny.url}, false)`;
  await sql`INSERT INTO groups (name) VALUES ('lab-all')`;
  await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('lab-all', 'lab')`;
  await t.userKey("lab@lab.test", { groups: ["lab-all"] });
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await Promise.all([tiny?.stop(), hanging?.stop(), sse?.proc.stop()]);
});

describe("refresh policy", () => {
  it("times out a hanging upstream without holding up the others", async () => {
    const c = await catalog("lab@lab.test");
    expect(c.servers.map((s) => s.id)).toEqual(["fallback", "hanging", "legacy", "tiny"]);
    const byId = Object.fromEntries(c.servers.map((s) => [s.id, s]));
    expect(byId.hanging!.status).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^timed out after 4000 ms - /),
      stale: true,
    });
    expect(byId.tiny!.status.ok).toBe(true);
    expect(names(byId.tiny!.tools)).toEqual(["one"]);
  });

  it("lists a legacy HTTP+SSE server, configured as such or found by falling back", async () => {
    const c = await catalog("lab@lab.test");
    for (const id of ["legacy", "fallback"]) {
      const s = c.servers.find((x) => x.id === id)!;
      expect(s.status, id).toMatchObject({ ok: true, error: null });
      expect(names(s.tools), id).toEqual(expect.arrayContaining(["create_entities", "read_graph"]));
    }
  });

  it("serves an old snapshot and refreshes it in the background", async () => {
    tiny.tools = [tool("one"), tool("two")];
    await sleep(2500); // the snapshot is now older than CATALOG_REFRESH_SECONDS
    const first = (await catalog("lab@lab.test")).servers.find((s) => s.id === "tiny")!;
    // that request was answered from the snapshot it had; a later one sees the refresh
    expect(names(first.tools)).toContain("one");
    let seen: string[] = names(first.tools);
    for (let i = 0; i < 40 && !seen.includes("two"); i++) {
      await sleep(250);
      seen = names((await catalog("lab@lab.test")).servers.find((s) => s.id === "tiny")!.tools);
    }
    expect(seen).toEqual(["one", "two"]);
    const [row] = await t.db.sql`SELECT change FROM item_changes WHERE server_id = 'tiny' AND name = 'two'`;
    expect(row?.change).toBe("added");
  });

  it("refreshes every enabled server on POST /internal/refresh and reports all in /internal/status", async () => {
    const { status, body } = await internal<{ servers: ServerHealth[] }>("/internal/refresh", { method: "POST" });
    expect(status).toBe(200);
    const byId = Object.fromEntries(body.servers.map((s) => [s.id, s]));
    expect(Object.keys(byId).sort()).toEqual(["fallback", "hanging", "legacy", "off", "tiny"]);
    expect(byId.hanging).toMatchObject({ ok: false, error: expect.stringMatching(/^timed out after 4000 ms - /) });
    expect(byId.tiny).toMatchObject({
      ok: true,
      counts: { tools: 2 },
      serverInfo: { name: "tiny" },
      instructions: "tiny test upstream",
    });
    expect(byId.off).toMatchObject({ enabled: false, ok: null, refreshedAt: null });
    const st = await internal<{ servers: ServerHealth[] }>("/internal/status");
    expect(st.body.servers.map((s) => s.id)).toEqual(["fallback", "hanging", "legacy", "off", "tiny"]);
    expect((await internal("/internal/refresh/nope", { method: "POST" })).body).toEqual({ error: "not_found" });
  });

  it("refreshes only what is due on POST /internal/refresh?due=1 (the timer's job)", async () => {
    // settle: every server listed now (what is not due is left alone: see the refresh policy's
    // unit test; 2 s is too short to assert "nothing due" here on a loaded machine)
    await internal("/internal/refresh", { method: "POST" });
    tiny.tools = [tool("one"), tool("two"), tool("three")];
    await sleep(2500);
    const due = await internal<{ refreshed: number; servers: ServerHealth[] }>("/internal/refresh?due=1", {
      method: "POST",
    });
    expect(due.body.refreshed).toBeGreaterThan(0);
    expect(due.body.servers.find((s) => s.id === "tiny")).toMatchObject({ ok: true, counts: { tools: 3 } });
    tiny.tools = [tool("one"), tool("two")];
    await internal("/internal/refresh/tiny", { method: "POST" });
  });

  it("refreshes a re-enabled server on its next use", async () => {
    await t.db.sql`UPDATE servers SET enabled = true WHERE id = 'off'`;
    await sleep(700);
    const off = (await catalog("lab@lab.test")).servers.find((s) => s.id === "off")!;
    expect(off.status.ok).toBe(true);
    expect(names(off.tools)).toEqual(["one", "two"]);
  });

  it("lists a new server once for concurrent requests that all need it (the pool object shares the listing)", async () => {
    // the benchmark's upstream counts the sessions it opened: one listing = one session
    const up = await startBenchUpstream(3);
    try {
      const sql = t.db.sql;
      await sql`INSERT INTO tenants (id, name) VALUES ('burst', 'Burst')`;
      await sql`INSERT INTO servers (id, tenant_id, url) VALUES ('burst', 'burst', ${up.url})`;
      await sql`INSERT INTO groups (name) VALUES ('burst-all')`;
      await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('burst-all', 'burst')`;
      await t.userKey("burst@lab.test", { groups: ["burst-all"] });
      await sleep(700); // past CATALOG_VERSION_TTL_MS
      const answers = await Promise.all(Array.from({ length: 10 }, () => catalog("burst@lab.test")));
      for (const a of answers)
        expect(names(a.servers.find((x) => x.id === "burst")!.tools)).toEqual(["tool_0", "tool_1", "tool_2"]);
      expect(up.stats.opened).toBe(1);
    } finally {
      await t.db.sql`DELETE FROM servers WHERE id = 'burst'`;
      await up.close();
    }
  });
});
