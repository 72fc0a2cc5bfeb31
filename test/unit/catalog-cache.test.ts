/**
 * The mcp worker's catalog cache (workers/mcp/src/catalog.client.ts on shared/cache/lru.ts) and the
 * catalog's entity tags (workers/catalog/src/catalog.ts#answerTag), inside workerd: what is used
 * without a hop, what revalidates, what a 4xx and a 5xx from the catalog become, and when a tag moves.
 */
import { afterEach, describe, expect, it } from "vitest";
import { BoundedLru } from "../../shared/cache/lru";
import type { Access, AccessServer } from "../../shared/repos/access.repo";
import type { Snapshot, StatusRow } from "../../shared/repos/catalog.repo";
import type { ServerRow } from "../../shared/schemas";
import { answerTag } from "../../workers/catalog/src/catalog";
import {
  CatalogUnavailable,
  catalogCacheStats,
  clearCatalogCache,
  fetchUserCatalog,
  fetchUserServer,
} from "../../workers/mcp/src/catalog.client";

describe("BoundedLru", () => {
  it("evicts the least recently used by count and by weight, and never keeps an entry heavier than the bound", () => {
    const c = new BoundedLru<string>(3, 10);
    c.set("a", "A", 2);
    c.set("b", "B", 2);
    c.set("c", "C", 2);
    expect(c.get("a")).toBe("A"); // a is now the most recent
    c.set("d", "D", 2); // count bound: b goes
    expect(c.get("b")).toBeUndefined();
    expect([c.get("a"), c.get("c"), c.get("d")]).toEqual(["A", "C", "D"]);
    c.set("e", "E", 8); // count bound: a goes; weight bound (4 + 8 > 10): c goes
    expect(c.size).toBe(2);
    expect(c.weight).toBe(10);
    expect([c.get("a"), c.get("c"), c.get("d")]).toEqual([undefined, undefined, "D"]);
    c.set("huge", "H", 11);
    expect(c.get("huge")).toBeUndefined();
    expect(c.get("e")).toBe("E");
    c.set("e", "E2", 1); // replacing re-weighs
    expect(c.weight).toBe(3);
    c.clear();
    expect(c.size).toBe(0);
  });
});

/** A stand-in for the CATALOG service binding: answers from `answer`, records each request. */
function fakeCatalog(answer: (path: string, ifNoneMatch: string | null) => Response) {
  const calls: { path: string; ifNoneMatch: string | null }[] = [];
  const fetcher = {
    fetch: async (input: string, init?: RequestInit) => {
      const path = new URL(input).pathname;
      const ifNoneMatch = new Headers(init?.headers).get("if-none-match");
      calls.push({ path, ifNoneMatch });
      return answer(path, ifNoneMatch);
    },
  } as unknown as Fetcher;
  return { fetcher, calls };
}

const catalogJson = (tag: string) => ({
  email: "u@example.com",
  known: true,
  isAdmin: false,
  groups: ["g"],
  version: 1,
  servers: [{ id: "s1", url: "http://up/mcp", tools: [{ name: tag }] }],
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the mcp worker's catalog cache", () => {
  afterEach(() => clearCatalogCache());

  it("uses a catalog without a hop within the TTL, then revalidates it: a 304 keeps the parsed object, a new tag replaces it", async () => {
    let tag = '"c-1"';
    const { fetcher, calls } = fakeCatalog((_p, inm) =>
      inm === tag
        ? new Response(null, { status: 304, headers: { etag: tag } })
        : Response.json(catalogJson(tag), { headers: { etag: tag } }),
    );
    const first = await fetchUserCatalog(fetcher, "u@example.com", 200);
    expect(first.servers[0]!.tools[0]!.name).toBe('"c-1"');
    expect(await fetchUserCatalog(fetcher, "u@example.com", 200)).toBe(first);
    expect(calls).toHaveLength(1);
    await sleep(250);
    const before = { ...catalogCacheStats };
    expect(await fetchUserCatalog(fetcher, "u@example.com", 200)).toBe(first);
    expect(calls.at(-1)).toEqual({ path: "/internal/catalog/u%40example.com", ifNoneMatch: '"c-1"' });
    expect(catalogCacheStats.revalidated).toBe(before.revalidated + 1);
    // the 304 renewed its time: within the TTL again
    expect(await fetchUserCatalog(fetcher, "u@example.com", 200)).toBe(first);
    expect(calls).toHaveLength(2);
    // with TTL 0 every request revalidates; a changed answer replaces the cached one
    tag = '"c-2"';
    const second = await fetchUserCatalog(fetcher, "u@example.com", 0);
    expect(second).not.toBe(first);
    expect(second.servers[0]!.tools[0]!.name).toBe('"c-2"');
    expect(calls).toHaveLength(3);
    // another user, and one server of the same user, are other entries
    await fetchUserCatalog(fetcher, "other@example.com", 200);
    expect(calls.at(-1)).toEqual({ path: "/internal/catalog/other%40example.com", ifNoneMatch: null });
  });

  it("maps 400 and 404 from the catalog to an empty catalog, and keeps 503 for 5xx, unreachable and malformed answers", async () => {
    let status = 400;
    const { fetcher } = fakeCatalog(() => Response.json({ error: "x" }, { status }));
    expect(await fetchUserCatalog(fetcher, "not an email", 0)).toMatchObject({ servers: [], known: false });
    status = 404;
    expect(await fetchUserServer(fetcher, "u@example.com", "s1", 0)).toMatchObject({ servers: [] });
    for (status of [500, 503])
      await expect(fetchUserCatalog(fetcher, "u@example.com", 0)).rejects.toBeInstanceOf(CatalogUnavailable);
    const down = { fetch: async () => Promise.reject(new Error("connection refused")) } as unknown as Fetcher;
    await expect(fetchUserCatalog(down, "u@example.com", 0)).rejects.toBeInstanceOf(CatalogUnavailable);
    const junk = fakeCatalog(() => new Response("not json", { status: 200 }));
    await expect(fetchUserCatalog(junk.fetcher, "u@example.com", 0)).rejects.toThrow(/malformed/);
  });

  it("does not answer from the cache when the catalog fails after the TTL (the catalog decides when to fail closed)", async () => {
    let fail = false;
    const { fetcher } = fakeCatalog(() =>
      fail ? new Response("down", { status: 503 }) : Response.json(catalogJson("t"), { headers: { etag: '"c-t"' } }),
    );
    await fetchUserCatalog(fetcher, "u@example.com", 0);
    fail = true;
    await expect(fetchUserCatalog(fetcher, "u@example.com", 0)).rejects.toBeInstanceOf(CatalogUnavailable);
  });
});

describe("the catalog's entity tags", () => {
  const t0 = new Date("2026-01-01T00:00:00Z");
  const server = {
    id: "gh",
    tenant_id: "acme",
    url: "http://up/mcp",
    transport: "streamable-http",
    headers: {},
    enabled: true,
    description: "",
    created_at: t0,
    updated_at: t0,
  } as ServerRow;
  const status = (over: Partial<StatusRow> = {}): StatusRow => ({
    server_id: "gh",
    ok: true,
    error: null,
    protocol_version: "2025-11-25",
    server_info: null,
    capabilities: null,
    instructions: null,
    tool_count: 1,
    latency_ms: 5,
    refreshed_at: t0,
    last_ok_at: t0,
    era: "legacy",
    transport_detected: "streamable-http",
    supported_versions: ["2025-11-25"],
    era_checked_at: t0,
    cache_hints: null,
    ...over,
  });
  const entry: AccessServer = { server, grants: [{ group: "devs", tenant: "acme" }], rules: [] };
  const access = {
    email: "u@example.com",
    known: true,
    isAdmin: false,
    groups: ["devs"],
    servers: [entry],
    version: 5,
  } as Access;
  const snap = (st: StatusRow, version = 5): Snapshot => ({ version, status: new Map([["gh", st]]), items: new Map() });
  const now = t0.getTime() + 1000;

  it("is strong, stable for the same inputs, and moves with the access, the snapshot, a patched status and the stale flag", () => {
    const base = answerTag("c", access, snap(status()), [entry], 300, now);
    expect(base).toMatch(/^"c-[A-Za-z0-9_-]+"$/);
    expect(answerTag("c", access, snap(status()), [entry], 300, now + 1000)).toBe(base);
    const moved = [
      answerTag("c", { ...access, version: 6 }, snap(status()), [entry], 300, now),
      answerTag("c", access, snap(status(), 6), [entry], 300, now),
      answerTag(
        "c",
        access,
        snap(status({ refreshed_at: new Date(now), last_ok_at: new Date(now) })),
        [entry],
        300,
        now,
      ),
      answerTag("c", access, snap(status({ latency_ms: 9 })), [entry], 300, now),
      answerTag("c", access, snap(status({ ok: false, error: "boom" })), [entry], 300, now),
      // 300 s later the status turns stale with no other change
      answerTag("c", access, snap(status()), [entry], 300, now + 300_000),
      answerTag("c", access, snap(status()), [], 300, now),
      answerTag("s", access, snap(status()), [entry], 300, now),
      answerTag("c", { ...access, email: "v@example.com" }, snap(status()), [entry], 300, now),
    ];
    expect(new Set([base, ...moved]).size).toBe(moved.length + 1);
  });
});
