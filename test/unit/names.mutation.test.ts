// Name resolution on /mcp and /mcp/<server> (shared/naming.ts, workers/mcp/src/dispatch/names.ts)
// at its edges: the 64-character bound, the shortest server id that still fits, a real hash
// collision between two shortened names (found here by search), ordering, non-string and
// duplicate names, and tools left out for invalid x-mcp-header annotations.
import { afterEach, describe, expect, it, vi } from "vitest";
import { aggregatedName, assignNames, listAggregated } from "../../shared/naming";
import { UserCatalog } from "../../workers/mcp/src/catalog.client";
import { namedItems, upstreamNameOf } from "../../workers/mcp/src/dispatch/names";

afterEach(() => vi.restoreAllMocks());

type ServerIn = { id: string; tools?: unknown[]; prompts?: unknown[]; renamed?: [string, string][] };
const catalog = (servers: ServerIn[], virtual?: string) =>
  UserCatalog.parse({
    email: "u@example.com",
    ...(virtual ? { virtual: { id: virtual } } : {}),
    servers: servers.map((s) => ({ tools: [], prompts: [], ...s, url: `http://127.0.0.1:1/${s.id}` })),
  });

/** Two different long names of server "s" whose shortened names are equal (the 8-hex hash collides). */
let pair: [string, string, string] | undefined;
function collidingPair(): [string, string, string] {
  if (pair) return pair;
  const stem = "c".repeat(60); // too long to stay natural; the readable part keeps 64 - 3 - 9 = 52 of it
  const seen = new Map<string, string>();
  // a 32-bit hash collides after about 82,000 names; 400,000 without one means the hash is broken
  for (let i = 0; i < 400_000; i++) {
    const name = `${stem}-${i}`;
    const e = aggregatedName("s", name);
    const other = seen.get(e);
    if (other) return (pair = [other, name, e]);
    seen.set(e, name);
  }
  throw new Error("no collision among 400,000 shortened names");
}

describe("aggregated names: bounds", () => {
  it("keeps a name of exactly 64 characters, shortens one of 65", () => {
    const fits = "n".repeat(64 - "s__".length);
    expect(aggregatedName("s", fits)).toBe("s__" + fits);
    const over = fits + "n";
    const short = aggregatedName("s", over);
    expect(short).not.toBe("s__" + over);
    expect(short).toHaveLength(64);
  });

  it("hashes the UTF-8 bytes of the upstream name", async () => {
    const name = "lire un fichier é";
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(name)));
    const hex = [...digest]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("")
      .slice(0, 8);
    expect(aggregatedName("s", name)).toBe(`s__lire_un_fichier___${hex}`);
  });

  it("fits server ids up to 53 characters and names the id that is too long", () => {
    const id53 = "x".repeat(53); // 53 + 2 + 1 + 8 = 64: no readable part left
    expect(aggregatedName(id53, "a b")).toMatch(new RegExp(`^${id53}___[0-9a-f]{8}$`));
    expect(aggregatedName(id53, "a b")).toHaveLength(64);
    const id54 = "x".repeat(54);
    expect(() => aggregatedName(id54, "a b")).toThrow(`server id too long for aggregated names: ${id54}`);
  });
});

describe("aggregated names: collisions", () => {
  const [a, b, e] = collidingPair();

  it("leaves out both names when neither is natural", () => {
    const r = assignNames("s", [a, b]);
    expect(r.exposed.size).toBe(0);
    expect(r.upstream.has(e)).toBe(false);
    expect(r.upstream.size).toBe(0);
    expect(r.conflicts.map((c) => c.name)).toEqual([a, b].sort());
    expect(
      listAggregated({ servers: [{ id: "s", tools: [{ name: a }, { name: b }, { name: "ok" }], prompts: [] }] }).map(
        (x) => x.name,
      ),
    ).toEqual(["s__ok"]);
  });

  it("gives the name to the natural one, and lists the others' rivals sorted, conflicts sorted by name", () => {
    const natural = e.slice("s__".length);
    expect(aggregatedName("s", natural)).toBe(e);
    const forward = assignNames("s", [b, natural, a], "prompt");
    expect(forward.upstream.get(e)).toBe(natural);
    expect(forward.exposed.get(natural)).toBe(e);
    const sorted = [a, b].sort();
    expect(forward.conflicts).toEqual([
      { kind: "prompt", name: sorted[0], exposedName: e, conflictsWith: [sorted[1]!, natural].sort() },
      { kind: "prompt", name: sorted[1], exposedName: e, conflictsWith: [sorted[0]!, natural].sort() },
    ]);
    // independent of the order of the names
    expect(assignNames("s", [natural, a, b], "prompt")).toEqual(forward);
    expect(assignNames("s", [a, b, natural], "prompt")).toEqual(forward);
  });

  it("sorts many conflicts found in reverse order", () => {
    // "k k" shortens to s__k_k_<hash>; the safe name "k_k_<hash>" is that name naturally and wins
    const letters = "zyxwvutsrqponmlk".split("");
    const names = letters.flatMap((l) => [`${l} ${l}`, `${l}_${l}_` + aggregatedName("s", `${l} ${l}`).slice(-8)]);
    const got = assignNames("s", names).conflicts.map((x) => x.name);
    expect(got).toEqual(letters.map((l) => `${l} ${l}`).reverse());
  });

  it("sorts conflicts by name whatever order they were found in", () => {
    const [c, d] = collidingPair();
    const names = [
      "z z",
      "z_z_" + aggregatedName("s", "z z").slice(-8),
      c,
      d,
      "a a",
      "a_a_" + aggregatedName("s", "a a").slice(-8),
    ];
    const got = assignNames("s", names).conflicts.map((x) => x.name);
    expect(got).toEqual([...got].sort());
    expect(got).toEqual(["a a", c, d, "z z"].sort());
  });
});

describe("aggregated listing", () => {
  it("skips non-string names, and a string name is not displaced by a number that prints alike", () => {
    const listed = listAggregated({
      servers: [{ id: "s", tools: [{ name: 42 }, { name: "42" }, {}], prompts: [] }],
    } as never);
    expect(listed.map((x) => [x.name, x.upstreamName])).toEqual([["s__42", "42"]]);
    expect(assignNames("s", ["42"]).conflicts).toEqual([]);
  });

  it("lists a duplicated name once, the first item", () => {
    const listed = listAggregated({
      servers: [
        {
          id: "s",
          tools: [
            { name: "a", v: 1 },
            { name: "a", v: 2 },
          ],
          prompts: [],
        },
      ],
    } as never);
    expect(listed).toHaveLength(1);
    expect(listed[0]!.item).toMatchObject({ v: 1 });
  });
});

describe("name lookups of an endpoint", () => {
  const badHeader = { type: "object", properties: { q: { type: "object", "x-mcp-header": "Q" } } };
  const goodHeader = { type: "object", properties: { q: { type: "string", "x-mcp-header": "Q" } } };

  it("leaves out tools with invalid x-mcp-header annotations, on /mcp and /mcp/<server>, and logs why", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const c = catalog([
      {
        id: "s",
        tools: [{ name: "bad", inputSchema: badHeader }, { name: "good", inputSchema: goodHeader }, { name: "plain" }],
      },
    ]);
    expect([...namedItems(c, "*", "tools").keys()]).toEqual(["s__good", "s__plain"]);
    expect([...namedItems(c, "s", "tools").keys()]).toEqual(["good", "plain"]);
    const line = String(warn.mock.calls[0]![0]);
    expect(line).toContain("tool left out: invalid x-mcp-header");
    expect(line).toContain('"server":"s"');
    expect(line).toContain('"tool":"bad"');
    expect(line).toContain("annotates");
  });

  it("never checks prompts' arguments as tool schemas", () => {
    const c = catalog([{ id: "s", prompts: [{ name: "p", inputSchema: badHeader }] }]);
    expect([...namedItems(c, "*", "prompts").keys()]).toEqual(["s__p"]);
    expect([...namedItems(c, "s", "prompts").keys()]).toEqual(["p"]);
    // and tools are not prompts
    expect(namedItems(c, "s", "tools").size).toBe(0);
  });

  it("on /mcp/<server>: the first item of a name, string names only, nothing for an unknown server", () => {
    const c = catalog([{ id: "s", tools: [{ name: "a", v: 1 }, { name: "a", v: 2 }, { name: 7 }] }]);
    const m = namedItems(c, "s", "tools");
    expect([...m.keys()]).toEqual(["a"]);
    expect(m.get("a")).toMatchObject({ name: "a", upstreamName: "a", item: { v: 1 } });
    expect(m.get("a")!.server.id).toBe("s");
    expect(namedItems(c, "nope", "tools").size).toBe(0);
    expect(namedItems(c, "s__a", "tools").size).toBe(0);
  });

  it("builds each lookup once per catalog object, scope and kind", () => {
    const c = catalog([{ id: "s", tools: [{ name: "a" }], prompts: [{ name: "a" }] }]);
    const t = namedItems(c, "*", "tools");
    expect(namedItems(c, "*", "tools")).toBe(t);
    expect(namedItems(c, "*", "prompts")).not.toBe(t);
    expect(namedItems(c, "s", "tools")).not.toBe(t);
    expect(namedItems(c, "s", "tools")).toBe(namedItems(c, "s", "tools"));
    expect(namedItems(catalog([{ id: "s", tools: [{ name: "a" }] }]), "*", "tools")).not.toBe(t);
  });
});

describe("name lookups: virtual servers and renamed tools", () => {
  it("on a virtual server's endpoint: names as the catalog gives them, the first server's on a clash, each resolved to its upstream name", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const bad = { type: "object", properties: { q: { type: "object", "x-mcp-header": "Q" } } };
    const c = catalog(
      [
        {
          id: "a",
          tools: [{ name: "search", v: "a" }, { name: "open" }, { name: 3 }, { name: "broken", inputSchema: bad }],
          renamed: [["search", "find_things"]],
        },
        { id: "b", tools: [{ name: "search", v: "b" }, { name: "close" }] },
      ],
      "v",
    );
    const m = namedItems(c, "v", "tools");
    expect([...m.keys()]).toEqual(["search", "open", "close"]);
    expect(m.get("search")).toMatchObject({ name: "search", upstreamName: "find_things", item: { v: "a" } });
    expect(m.get("search")!.server.id).toBe("a");
    expect(m.get("open")).toMatchObject({ upstreamName: "open" });
    expect(m.get("close")!.server.id).toBe("b");
    expect(warn).toHaveBeenCalledTimes(1);
    // the same catalog under another scope is not the virtual server's endpoint
    expect([...namedItems(c, "b", "tools").keys()]).toEqual(["search", "close"]);
    expect(namedItems(c, "b", "tools").get("search")!.item).toMatchObject({ v: "b" });
    expect(namedItems(c, "w", "tools").size).toBe(0);
  });

  it("maps a renamed tool back to its upstream name on /mcp and /mcp/<server>, and nothing else", () => {
    const c = catalog([
      {
        id: "s",
        tools: [{ name: "shown" }, { name: "plain" }],
        prompts: [{ name: "shown" }],
        renamed: [["shown", "original"]],
      },
    ]);
    expect(namedItems(c, "s", "tools").get("shown")).toMatchObject({ name: "shown", upstreamName: "original" });
    expect(namedItems(c, "*", "tools").get("s__shown")).toMatchObject({ name: "s__shown", upstreamName: "original" });
    expect(namedItems(c, "*", "tools").get("s__plain")).toMatchObject({ upstreamName: "plain" });
    // renames are of tools only: a prompt of the same name keeps its name
    expect(namedItems(c, "s", "prompts").get("shown")).toMatchObject({ upstreamName: "shown" });
    const server = c.servers[0]!;
    expect(upstreamNameOf(server, "shown", "tools")).toBe("original");
    expect(upstreamNameOf(server, "shown", "prompts")).toBe("shown");
    expect(upstreamNameOf(server, "other", "tools")).toBe("other");
    expect(upstreamNameOf({ ...server, renamed: [] }, "shown", "tools")).toBe("shown");
    expect(upstreamNameOf({ ...server, renamed: undefined }, "shown", "tools")).toBe("shown");
  });
});
