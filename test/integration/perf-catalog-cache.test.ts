/**
 * The mcp worker's catalog cache (workers/mcp/src/catalog.client.ts) and the catalog's ETags
 * (workers/catalog/src/catalog.routes.ts) end to end - real workerd, real Postgres, a real MCP
 * upstream - at the production default MCP_CATALOG_TTL_MS (500 ms; the other test files run with
 * 0): the catalog answers If-None-Match with 304, a warm tools/list costs no catalog answer per
 * page, a grant revoked through the admin API is refused for requests starting 2 s later (the
 * CONTRACT), and an identity the catalog refuses (400) is not "catalog unavailable" (503).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { untilInForce } from "../harness/contract";
import { startTestStack, type TestStack } from "../harness/stack";
import { startTinyUpstream, tool, type TinyUpstream } from "./catalog.fixture";
import { rawInitialize, rawPost } from "./mcp.fixture";

const TOOLS = 250;
let t: TestStack;
let up: TinyUpstream;
let key: string;

const internal = (path: string, headers: Record<string, string> = {}) => t.internal(path, { headers });
/** This catalog isolate's counts of full catalog answers and 304s. */
const stats = async () =>
  ((await (await internal("/internal/stats")).json()) as { catalog: { answered: number; notModified: number } })
    .catalog;

/** Every page of tools/list in a session; the tool names. */
async function listAll(path: string, session: string, k = key): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const r = await rawPost(
      t.url,
      path,
      k,
      { jsonrpc: "2.0", id: page + 2, method: "tools/list", params: cursor ? { cursor } : {} },
      { "mcp-session-id": session },
    );
    expect(r.status).toBe(200);
    expect(r.body.error).toBeUndefined();
    names.push(...r.body.result.tools.map((x: { name: string }) => x.name));
    cursor = r.body.result.nextCursor;
    if (!cursor) return names;
  }
  throw new Error("too many pages");
}

beforeAll(async () => {
  up = await startTinyUpstream(Array.from({ length: TOOLS }, (_, i) => tool(`tool_${i}`)));
  t = await startTestStack({ internalPort: 0, caches: "production" });
  const sql = t.db.sql;
  await sql`INSERT INTO tenants (id, name) VALUES ('lab', 'Lab')`;
  await sql`INSERT INTO servers (id, tenant_id, url) VALUES ('big', 'lab', ${up.url})`;
  await sql`INSERT INTO groups (name) VALUES ('lab-users')`;
  await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('lab-users', 'lab')`;
  key = await t.userKey("warm@lab.test", { groups: ["lab-users"] });
  // the server's first listing in now (it would otherwise land in the background, changing the
  // catalog's version, and so its ETag, between two requests of a test)
  const listed = await t.internal("/internal/refresh/big", { method: "POST" });
  expect(((await listed.json()) as { ok: boolean }).ok).toBe(true);
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await up?.stop();
});

describe("catalog ETags", () => {
  it("answers If-None-Match with 304 and no body, on the whole catalog and on one server", async () => {
    for (const path of ["/internal/catalog/warm%40lab.test", "/internal/catalog/warm%40lab.test/servers/big"]) {
      const first = await internal(path);
      expect(first.status).toBe(200);
      const etag = first.headers.get("etag")!;
      expect(etag).toMatch(/^"[a-z]-[A-Za-z0-9_-]+"$/);
      await first.json();
      const again = await internal(path, { "if-none-match": etag });
      expect(again.status).toBe(304);
      expect(again.headers.get("etag")).toBe(etag);
      expect(await again.text()).toBe("");
      const other = await internal(path, { "if-none-match": '"c-something-else"' });
      expect(other.status).toBe(200);
      expect(other.headers.get("etag")).toBe(etag);
      await other.body?.cancel();
    }
  });
});

describe("the mcp worker's catalog cache (MCP_CATALOG_TTL_MS 500)", () => {
  it("answers a warm tools/list of every page without a full catalog answer per page", async () => {
    for (const path of ["/mcp", "/mcp/big"]) {
      const { session } = await rawInitialize(t.url, path, key);
      expect(session).toBeTruthy();
      expect(await listAll(path, session!)).toHaveLength(TOOLS);
      const before = await stats();
      const started = Date.now();
      const rounds = 10;
      for (let i = 0; i < rounds; i++) {
        const names = await listAll(path, session!);
        expect(names).toHaveLength(TOOLS);
        expect(names[0]).toBe(path === "/mcp" ? "big__tool_0" : "tool_0");
      }
      const elapsed = Date.now() - started;
      const after = await stats();
      const asked = after.answered - before.answered + (after.notModified - before.notModified);
      // 30 pages: without the cache, 30 full answers; with it, no full answer (the catalog did
      // not change) and at most one revalidation (a 304) per 500 ms
      expect(after.answered - before.answered, path).toBe(0);
      expect(asked, path).toBeLessThanOrEqual(Math.ceil(elapsed / 500) + 1);
      expect(asked, path).toBeLessThan(rounds * 3);
    }
  });

  it("refuses a grant revoked through the admin API for requests starting 2 s later", async () => {
    const k = await t.userKey("revoked@lab.test", { groups: ["revocable"] });
    const put = (tenants: string[]) =>
      t.fetch("/admin/api/groups/revocable", { method: "PUT", key: t.adminKey, json: { tenants } });
    expect((await put(["lab"])).status).toBeLessThan(300);
    await untilInForce(Date.now());
    const agg = (await rawInitialize(t.url, "/mcp", k)).session!;
    const one = (await rawInitialize(t.url, "/mcp/big", k)).session!;
    expect(await listAll("/mcp", agg, k)).toHaveLength(TOOLS);
    expect(await listAll("/mcp/big", one, k)).toHaveLength(TOOLS);
    const call = () =>
      rawPost(
        t.url,
        "/mcp",
        k,
        { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "big__tool_1", arguments: {} } },
        { "mcp-session-id": agg, accept: "application/json" },
      );
    // the tiny upstream has no tools/call handler: its own error shows that the call got through
    const seen = up.seen.length;
    const through = await call();
    expect(through.body.error?.message ?? "").not.toMatch(/Unknown tool/);
    expect(up.seen.length).toBeGreaterThan(seen);

    expect((await put([])).status).toBe(200);
    const answered = Date.now();
    // keep the caches warm meanwhile (the case that matters); the checks start at answer + 2 s
    await untilInForce(answered, () =>
      rawPost(t.url, "/mcp", k, { jsonrpc: "2.0", id: 3, method: "tools/list" }, { "mcp-session-id": agg }),
    );
    const [single, listed, refused] = await Promise.all([
      rawPost(t.url, "/mcp/big", k, { jsonrpc: "2.0", id: 4, method: "tools/list" }, { "mcp-session-id": one }),
      rawPost(t.url, "/mcp", k, { jsonrpc: "2.0", id: 5, method: "tools/list" }, { "mcp-session-id": agg }),
      call(),
    ]);
    expect(single.status).toBe(403);
    expect(single.body.error.message).toMatch(/may not use server big/);
    expect(listed.body.result.tools).toEqual([]);
    expect(refused.body.error).toMatchObject({ code: -32602, message: "Unknown tool: big__tool_1" });
  });
});

describe("an identity the catalog refuses", () => {
  it("gets the answer of a user without servers (not 503) on /mcp, and 403 on /mcp/<server>", async () => {
    // the catalog refuses this e-mail (400: two @); the users table and the API key accept it
    const odd = await t.userKey("odd@two@lab.test", { groups: ["lab-users"] });
    const init = await rawInitialize(t.url, "/mcp", odd);
    expect(init.status).toBe(200);
    expect(init.result.instructions).toMatch(/No MCP servers are available/);
    const list = await rawPost(
      t.url,
      "/mcp",
      odd,
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
      { "mcp-session-id": init.session! },
    );
    expect(list.status).toBe(200);
    expect(list.body.result.tools).toEqual([]);
    const one = await rawInitialize(t.url, "/mcp/big", odd);
    expect(one.status).toBe(403);
    expect(one.body.error.message).toMatch(/may not use server big/);
  });
});
