/**
 * The catalog worker against real upstreams: server-everything (Streamable HTTP), the memory
 * server behind supergateway, a tiny SDK server the test changes, a dead address; real Postgres;
 * the real worker under workerd, reached on its internal socket (the public edge never routes
 * to it).
 */
import { rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CatalogServer, ServerHealth, UserCatalog } from "../../shared/catalog.schema";
import { aggregatedName } from "../../shared/naming";
import { startBridged, startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { freePort } from "../../scripts/lib/ports";
import { startWorkerd } from "../../scripts/lib/workerd";
import { localConfig, WORKERD_DIR } from "../../scripts/lib/workerd-config";
import { allWorkers, ROOT } from "../../scripts/lib/workers";
import { startTestStack, type TestStack } from "../harness/stack";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { deadUrl, startTinyUpstream, tool, type TinyUpstream } from "./catalog.fixture";

let t: TestStack;
let everything: Upstream;
let memory: Upstream;
let tiny: TinyUpstream;
let tiny2: TinyUpstream;

async function internal<T = unknown>(
  path: string,
  init: RequestInit = {},
  base = t.internalUrl,
): Promise<{ status: number; body: T }> {
  const res = await fetch(base + path, {
    ...init,
    headers: { ...(await t.serviceHeaders()), ...(init.headers as Record<string, string>) },
  });
  return { status: res.status, body: (await res.json()) as T };
}
const catalog = async (email: string) => {
  const r = await internal<UserCatalog>(`/internal/catalog/${encodeURIComponent(email)}`);
  expect(r.status).toBe(200);
  return r.body;
};
const serverOf = (c: UserCatalog, id: string) => c.servers.find((s) => s.id === id);
const names = (items: { name?: unknown }[]) => items.map((i) => String(i.name));
const refresh = (id: string) => internal<ServerHealth>(`/internal/refresh/${id}`, { method: "POST" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const EVERYTHING_TOOLS = [
  "echo",
  "get-sum",
  "get-env",
  "get-tiny-image",
  "trigger-long-running-operation",
  "trigger-sampling-request",
  "trigger-elicitation-request",
  "get-roots-list",
];

beforeAll(async () => {
  [everything, memory, tiny, tiny2] = await Promise.all([
    startEverything("everything"),
    startBridged("memory", resolve(ROOT, "node_modules/.bin/mcp-server-memory")),
    startTinyUpstream([tool("alpha"), tool("beta")]),
    startTinyUpstream([tool("gamma")]),
  ]);
  t = await startTestStack({ internalPort: 0 });
  const sql = t.db.sql;
  await sql`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme'), ('globex', 'Globex'), ('lab', 'Lab')`;
  await sql`INSERT INTO servers (id, tenant_id, url, headers) VALUES
    ('everything', 'acme', ${everything.url}, ${sql.json({})}),
    ('memory', 'globex', ${memory.url}, ${sql.json({})}),
    ('tiny', 'lab', ${tiny.url}, ${sql.json({ "X-Upstream-Secret": "tiny-secret" })}),
    ('down', 'lab', ${await deadUrl()}, ${sql.json({})})`;
  await sql`INSERT INTO groups (name) VALUES ('acme-devs'), ('acme-readers'), ('globex-all'), ('lab-all'), ('empty')`;
  await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES
    ('acme-devs', 'acme'), ('acme-readers', 'acme'), ('globex-all', 'globex'), ('lab-all', 'lab')`;
  // readers: only get-* tools, minus get-env; devs: everything but the trigger-* tools
  await sql`INSERT INTO group_tool_rules (group_name, server_id, tool, effect) VALUES
    ('acme-readers', 'everything', 'get-*', 'allow'), ('acme-readers', 'everything', 'get-env', 'deny'),
    ('acme-devs', 'everything', 'trigger-*', 'deny')`;
  await t.userKey("dev@acme.test", { groups: ["acme-devs"] });
  await t.userKey("reader@acme.test", { groups: ["acme-readers"] });
  await t.userKey("both@acme.test", { groups: ["acme-devs", "acme-readers"] });
  await t.userKey("lab@lab.test", { groups: ["lab-all"] });
  await t.userKey("nobody@acme.test", { groups: ["empty"] });
  await t.userKey("boss@acme.test", { admin: true });
  await t.userKey("ops@acme.test", { groups: ["mcp-admin"] });
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await Promise.all([everything?.proc.stop(), memory?.proc.stop(), tiny?.stop(), tiny2?.stop()]);
});

describe("snapshots", () => {
  it("lists server-everything's tools, prompts, resources and templates, with its initialize data", async () => {
    const c = await catalog("boss@acme.test");
    const s = serverOf(c, "everything")!;
    expect(s.status).toMatchObject({ ok: true, error: null, stale: false });
    expect(s.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(s.serverInfo).toMatchObject({ name: expect.stringContaining("everything") });
    expect(s.capabilities).toHaveProperty("tools");
    expect(s.instructions).toContain("Everything");
    // listed as a fully capable client: tools that need sampling, elicitation or roots are there
    expect(names(s.tools)).toEqual(expect.arrayContaining(EVERYTHING_TOOLS));
    const echo = s.tools.find((x) => x.name === "echo")!;
    expect(echo).toMatchObject({
      description: expect.any(String),
      inputSchema: { type: "object", properties: { message: expect.any(Object) } },
    });
    expect(names(s.prompts)).toEqual(expect.arrayContaining(["simple-prompt", "args-prompt"]));
    expect(s.resources.length).toBeGreaterThan(0);
    expect(s.resources[0]).toHaveProperty("uri");
    expect(s.resourceTemplates.length).toBeGreaterThan(0);
    expect(s.resourceTemplates[0]).toHaveProperty("uriTemplate");
  });

  it("lists a stdio server bridged by supergateway, and keeps the upstream's order", async () => {
    const s = serverOf(await catalog("boss@acme.test"), "memory")!;
    expect(s.status.ok).toBe(true);
    expect(names(s.tools)).toEqual(expect.arrayContaining(["create_entities", "read_graph"]));
    const { body } = await internal<{ servers: ServerHealth[] }>("/internal/status");
    const h = body.servers.find((x) => x.id === "memory")!;
    expect(h.counts.tools).toBe(s.tools.length);
    const rows = await t.db
      .sql`SELECT name FROM server_items WHERE server_id = 'memory' AND kind = 'tool' ORDER BY position`;
    expect(rows.map((r) => r.name)).toEqual(names(s.tools));
  });

  it("injects the server's stored secret headers upstream, and says so clearly when they are refused", async () => {
    tiny.requireSecret = "tiny-secret";
    try {
      expect((await refresh("tiny")).body).toMatchObject({ ok: true });
      expect(tiny.seen.length).toBeGreaterThan(0);
      expect(tiny.seen.every((h) => h["x-upstream-secret"] === "tiny-secret")).toBe(true);
      tiny.requireSecret = "rotated-secret";
      const h = await refresh("tiny");
      expect(h.body).toMatchObject({ ok: false, counts: { tools: 2 } });
      expect(h.body.error).toMatch(/^HTTP 401 from upstream/);
      expect(h.body.error).not.toContain("tiny-secret");
    } finally {
      tiny.requireSecret = undefined;
    }
    expect((await refresh("tiny")).body).toMatchObject({ ok: true });
  });

  it("reports a down upstream with ok=false and a clear error, and still lists the others", async () => {
    const c = await catalog("lab@lab.test");
    const down = serverOf(c, "down")!;
    expect(down.status.ok).toBe(false);
    expect(down.status.stale).toBe(true);
    expect(down.status.error).toMatch(/ECONNREFUSED|fetch failed|connect/i);
    expect(down.tools).toEqual([]);
    expect(serverOf(c, "tiny")!.status.ok).toBe(true);
    const { body } = await internal<{ servers: ServerHealth[] }>("/internal/status");
    expect(body.servers.find((s) => s.id === "down")).toMatchObject({ ok: false, enabled: true });
  });
});

describe("who sees what", () => {
  it("filters tools per group: allow lists with globs, denies, union over groups", async () => {
    const reader = serverOf(await catalog("reader@acme.test"), "everything")!;
    expect(names(reader.tools).every((n) => n.startsWith("get-"))).toBe(true);
    expect(names(reader.tools)).toContain("get-sum");
    expect(names(reader.tools)).not.toContain("get-env");
    const dev = serverOf(await catalog("dev@acme.test"), "everything")!;
    expect(names(dev.tools)).toContain("echo");
    expect(names(dev.tools)).toContain("get-env");
    expect(names(dev.tools).some((n) => n.startsWith("trigger-"))).toBe(false);
    // prompts and resources follow the server, not the tool rules
    expect(reader.prompts.length).toBeGreaterThan(0);
    expect(reader.resources.length).toBe(dev.resources.length);
    const both = serverOf(await catalog("both@acme.test"), "everything")!;
    expect(new Set(names(both.tools))).toEqual(new Set([...names(dev.tools), ...names(reader.tools)]));
  });

  it("lists only granted servers; admins and mcp-admin members see every server and tool", async () => {
    const dev = await catalog("dev@acme.test");
    expect(dev).toMatchObject({ email: "dev@acme.test", known: true, isAdmin: false, groups: ["acme-devs"] });
    expect(dev.servers.map((s) => s.id)).toEqual(["everything"]);
    expect(serverOf(dev, "everything")!.grants).toEqual([{ group: "acme-devs", tenant: "acme" }]);
    for (const email of ["boss@acme.test", "ops@acme.test"]) {
      const c = await catalog(email);
      expect(c.isAdmin).toBe(true);
      expect(c.servers.map((s) => s.id)).toEqual(["down", "everything", "memory", "tiny"]);
      expect(names(serverOf(c, "everything")!.tools)).toEqual(expect.arrayContaining(EVERYTHING_TOOLS));
    }
  });

  it("gives a user with no grants an empty list with what the caller needs to explain why", async () => {
    expect(await catalog("nobody@acme.test")).toMatchObject({
      known: true,
      isAdmin: false,
      groups: ["empty"],
      servers: [],
    });
    expect(await catalog("Stranger@Nowhere.test")).toMatchObject({
      email: "stranger@nowhere.test",
      known: false,
      groups: [],
      servers: [],
    });
    expect((await internal("/internal/catalog/not-an-email")).status).toBe(400);
  });

  it("answers one server, and 404 alike for a hidden and a missing one", async () => {
    const ok = await internal<CatalogServer>("/internal/catalog/dev%40acme.test/servers/everything");
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      id: "everything",
      tenant: "acme",
      url: everything.url,
      transport: "streamable-http",
      credentials: null,
    });
    expect(ok.body).not.toHaveProperty("headers");
    const hidden = await internal("/internal/catalog/dev%40acme.test/servers/memory");
    const missing = await internal("/internal/catalog/dev%40acme.test/servers/no-such-server");
    const odd = await internal("/internal/catalog/dev%40acme.test/servers/..%2Fmemory");
    expect(hidden).toEqual({ status: 404, body: { error: "not_found" } });
    expect(missing).toEqual(hidden);
    expect(odd).toEqual(hidden);
  });

  it("puts a grant change in force within 2 seconds", async () => {
    expect(serverOf(await catalog("nobody@acme.test"), "memory")).toBeUndefined();
    await t.db.sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('empty', 'globex')`;
    await sleep(2000);
    expect(serverOf(await catalog("nobody@acme.test"), "memory")).toBeDefined();
    await t.db
      .sql`INSERT INTO group_tool_rules (group_name, server_id, tool, effect) VALUES ('empty', 'memory', 'read_graph', 'deny')`;
    await sleep(2000);
    const m = serverOf(await catalog("nobody@acme.test"), "memory")!;
    expect(names(m.tools)).not.toContain("read_graph");
    expect(names(m.tools)).toContain("create_entities");
    await t.db.sql`DELETE FROM group_tenant_mapping WHERE group_name = 'empty'`;
    await sleep(2000);
    expect((await catalog("nobody@acme.test")).servers).toEqual([]);
  });

  it("is never routed by the public edge", async () => {
    const key = await t.userKey("curious@acme.test", { groups: ["acme-devs"] });
    for (const path of [
      "/internal/catalog/x",
      "/internal/catalog/dev%40acme.test",
      "/internal/status",
      "/internal/access/dev%40acme.test",
    ]) {
      expect((await t.fetch(path)).status, path).toBe(404);
      expect((await t.fetch(path, { key })).status, path).toBe(404);
    }
    expect((await t.fetch("/internal/refresh", { method: "POST", key })).status).toBe(404);
  });
});

describe("changes", () => {
  it("records added, removed and changed items, and serves the new definitions", async () => {
    await refresh("tiny");
    // delta carries a field the SDK does not know: the catalog keeps items exactly as listed
    tiny.tools = [
      tool("alpha", "alpha, now with a new description"),
      { ...tool("delta"), "x-vendor": { tier: 2, tags: ["a", "b"] } } as Tool,
    ];
    const h = await refresh("tiny");
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject({ id: "tiny", ok: true, counts: { tools: 2 } });
    const rows = await t.db
      .sql`SELECT kind, name, change, before, after FROM item_changes WHERE server_id = 'tiny' ORDER BY id DESC LIMIT 3`;
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(byName.alpha).toMatchObject({
      kind: "tool",
      change: "changed",
      before: { description: "alpha tool" },
      after: { description: "alpha, now with a new description" },
    });
    expect(byName.beta).toMatchObject({ change: "removed", after: null });
    expect(byName.delta).toMatchObject({
      change: "added",
      before: null,
      after: { name: "delta", "x-vendor": { tier: 2 } },
    });
    const s = serverOf(await catalog("lab@lab.test"), "tiny")!;
    expect(s.tools).toEqual(tiny.tools);
  });

  it("follows tools/list pages to the end, keeping the order", async () => {
    const before = tiny.tools;
    tiny.tools = ["p1", "p2", "p3", "p4", "p5"].map((n) => tool(n));
    tiny.pageSize = 2;
    try {
      expect((await refresh("tiny")).body).toMatchObject({ ok: true, counts: { tools: 5 } });
      expect(names(serverOf(await catalog("lab@lab.test"), "tiny")!.tools)).toEqual(["p1", "p2", "p3", "p4", "p5"]);
    } finally {
      tiny.pageSize = undefined;
      tiny.tools = before;
    }
    expect((await refresh("tiny")).body).toMatchObject({ ok: true, counts: { tools: before.length } });
  });

  it("does not rewrite anything (nor move the version) when nothing changed", async () => {
    await refresh("tiny");
    const state = async () =>
      (
        await t.db
          .sql`SELECT (SELECT version FROM catalog_state) AS version, (SELECT count(*)::int FROM item_changes) AS changes`
      )[0];
    const before = await state();
    expect((await refresh("tiny")).body).toMatchObject({ ok: true });
    expect(await state()).toEqual(before);
  });

  it("refreshes a server whose row changed (here: its url) on its next use", async () => {
    expect(names(serverOf(await catalog("lab@lab.test"), "tiny")!.tools)).toEqual(["alpha", "delta"]);
    await t.db.sql`UPDATE servers SET url = ${tiny2.url} WHERE id = 'tiny'`;
    await sleep(700); // past CATALOG_VERSION_TTL_MS
    expect(names(serverOf(await catalog("lab@lab.test"), "tiny")!.tools)).toEqual(["gamma"]);
    const rows = await t.db
      .sql`SELECT name, change FROM item_changes WHERE server_id = 'tiny' AND name IN ('alpha', 'delta', 'gamma') ORDER BY id DESC LIMIT 3`;
    expect(new Set(rows.map((r) => `${r.name}:${r.change}`))).toEqual(
      new Set(["alpha:removed", "delta:removed", "gamma:added"]),
    );
    await t.db.sql`UPDATE servers SET url = ${tiny.url} WHERE id = 'tiny'`;
  });

  it("retries a failed listing in the background soon (not after CATALOG_REFRESH_SECONDS)", async () => {
    const url = await deadUrl();
    await t.db.sql`INSERT INTO servers (id, tenant_id, url) VALUES ('late', 'lab', ${url})`;
    await sleep(700); // past CATALOG_VERSION_TTL_MS
    expect(serverOf(await catalog("lab@lab.test"), "late")!.status.ok).toBe(false);
    const late = await startTinyUpstream([tool("finally")], [], Number(new URL(url).port));
    try {
      let s = serverOf(await catalog("lab@lab.test"), "late")!;
      for (let i = 0; i < 60 && !s.status.ok; i++) {
        await sleep(500);
        s = serverOf(await catalog("lab@lab.test"), "late")!;
      }
      expect(s.status).toMatchObject({ ok: true, error: null });
      expect(names(s.tools)).toEqual(["finally"]);
    } finally {
      await t.db.sql`DELETE FROM servers WHERE id = 'late'`;
      await late.stop();
    }
  });

  it("keeps a failing server's previous items, flagged stale", async () => {
    await t.db.sql`UPDATE servers SET url = ${tiny.url} WHERE id = 'tiny'`;
    await refresh("tiny");
    const good = serverOf(await catalog("lab@lab.test"), "tiny")!;
    expect(good.tools.length).toBeGreaterThan(0);
    await tiny.stop();
    try {
      const h = await refresh("tiny");
      expect(h.body).toMatchObject({ ok: false, stale: true });
      const s = serverOf(await catalog("lab@lab.test"), "tiny")!;
      expect(s.status).toMatchObject({ ok: false, stale: true, lastOkAt: good.status.lastOkAt });
      expect(s.status.error).toBeTruthy();
      expect(s.tools).toEqual(good.tools);
    } finally {
      tiny = await startTinyUpstreamAt(tiny);
    }
  });
});

describe("aggregated names", () => {
  it("reports collisions in the server's status and leaves long or odd names to the shortening", async () => {
    const odd = "repo.list";
    const twin = aggregatedName("tiny", odd).slice("tiny__".length); // a real name equal to odd's shortened form
    const long = "x".repeat(80);
    tiny.tools = [tool(odd), tool(twin), tool(long), tool("plain")];
    const h = await refresh("tiny");
    expect(h.body).toMatchObject({ ok: true, counts: { tools: 4 } });
    expect(h.body.nameConflicts).toEqual([
      { kind: "tool", name: odd, exposedName: `tiny__${twin}`, conflictsWith: [twin] },
    ]);
    const s = serverOf(await catalog("lab@lab.test"), "tiny")!;
    expect(s.status.nameConflicts).toEqual(h.body.nameConflicts);
    // the catalog keeps upstream names; /mcp/<server> still reaches every one of them
    expect(names(s.tools)).toEqual([odd, twin, long, "plain"]);
    expect(aggregatedName("tiny", long).length).toBeLessThanOrEqual(64);
  });
});

/** Restarts the tiny upstream on a new port and points the server row at it. */
async function startTinyUpstreamAt(old: TinyUpstream): Promise<TinyUpstream> {
  const up = await startTinyUpstream(old.tools, old.prompts);
  await t.db.sql`UPDATE servers SET url = ${up.url} WHERE id = 'tiny'`;
  return up;
}

describe("a second replica", () => {
  it("serves the snapshots the first one wrote, without contacting the upstreams, and sees changes within 2 s", async () => {
    const [port, internalPort] = [await freePort(), await freePort()];
    const config = resolve(WORKERD_DIR, `local-internal-replica-${process.pid}-${internalPort}.capnp`);
    writeFileSync(config, localConfig(allWorkers(), ["catalog"]));
    const replica = await startWorkerd({
      config,
      port,
      env: t.workerEnv,
      name: "replica",
      extraSockets: { catalog: internalPort },
    });
    const other = `http://127.0.0.1:${internalPort}`;
    try {
      await refresh("tiny");
      tiny.seen.length = 0;
      const fromA = await catalog("lab@lab.test");
      const fromB = (await internal<UserCatalog>("/internal/catalog/lab%40lab.test", {}, other)).body;
      expect(fromB.servers.map((x) => [x.id, names(x.tools)])).toEqual(
        fromA.servers.map((x) => [x.id, names(x.tools)]),
      );
      expect(tiny.seen).toEqual([]); // answered from the shared snapshot
      tiny.tools = [...tiny.tools, tool("from-replica-a")];
      await refresh("tiny"); // through the first replica
      await sleep(2000);
      const after = (await internal<UserCatalog>("/internal/catalog/lab%40lab.test", {}, other)).body;
      expect(names(after.servers.find((x) => x.id === "tiny")!.tools)).toContain("from-replica-a");
    } finally {
      await replica.stop();
      rmSync(config, { force: true });
    }
  });
});
