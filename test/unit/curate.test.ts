/**
 * workers/catalog/src/curate.ts alone: what a user is served of one server under review and with
 * overrides (the integration tests cover the same end to end; these pin the corner cases).
 */
import { describe, expect, it } from "vitest";
import type { Snapshot } from "../../shared/repos/catalog.repo";
import { kindKey, type ToolOverride } from "../../shared/repos/review.repo";
import type { ServerRow } from "../../shared/schemas";
import { curatedOthers, curatedTools } from "../../workers/catalog/src/curate";

const t0 = new Date("2026-01-01T00:00:00Z");
const server = (review: ServerRow["review"]): ServerRow => ({
  id: "gh",
  tenant_id: "acme",
  url: "http://up/mcp",
  transport: "streamable-http",
  headers: {},
  enabled: true,
  description: "",
  review,
  created_at: t0,
  updated_at: t0,
});
const tool = (name: string, description = `${name} tool`) => ({ name, description, inputSchema: { type: "object" } });

function snap(o: {
  live: { name: string; hash: string }[];
  approved?: [string, string][];
  overrides?: Partial<ToolOverride>[];
}): Snapshot {
  return {
    version: 1,
    status: new Map(),
    items: new Map([
      ["gh", { tool: o.live.map((l) => tool(l.name)), prompt: [], resource: [], resource_template: [] }],
    ]),
    toolHashes: new Map([["gh", new Map(o.live.map((l) => [l.name, l.hash]))]]),
    approved: new Map([
      ["gh", new Map((o.approved ?? []).map(([n, h]) => [n, { definition: tool(n, `${n} approved`), hash: h }]))],
    ]),
    overrides: new Map([
      [
        "gh",
        new Map(
          (o.overrides ?? []).map((x) => [
            x.tool!,
            { name: null, description: null, hidden: false, ...x } as ToolOverride,
          ]),
        ),
      ],
    ]),
  };
}

const all = () => true;

describe("curatedTools", () => {
  it("serves live definitions under auto, approved ones under review, and marks held tools", () => {
    const s = snap({
      live: [
        { name: "a", hash: "h1" },
        { name: "b", hash: "h2" },
        { name: "c", hash: "h3" },
      ],
      approved: [
        ["a", "h1"],
        ["b", "old"],
      ],
    });
    expect(curatedTools(server("auto"), s, all).tools.map((t) => t.description)).toEqual([
      "a tool",
      "b tool",
      "c tool",
    ]);
    expect(curatedTools(server(undefined), s, all).held).toEqual([]);
    const held = curatedTools(server("hold"), s, all);
    expect(held.tools.map((t) => [t.name, t.description])).toEqual([
      ["a", "a approved"],
      ["b", "b approved"],
    ]);
    expect(held.held).toEqual(["b"]);
    // each tool shown is pinned to its approved hash (the mcp worker checks the upstream against it); none under auto
    expect(held.pins).toEqual([
      ["a", "h1"],
      ["b", "old"],
    ]);
    expect(curatedTools(server("auto"), s, all).pins).toEqual([]);
    expect(curatedTools(server("findings"), s, (n) => n !== "b").pins).toEqual([["a", "h1"]]);
    expect(curatedTools(server("findings"), s, (n) => n !== "b").tools.map((t) => t.name)).toEqual(["a"]);
  });

  it("applies overrides after the rules, refuses a rename onto a taken name, and keeps odd names plain keys", () => {
    const s = snap({
      live: [
        { name: "a", hash: "1" },
        { name: "b", hash: "2" },
        { name: "c", hash: "3" },
        { name: "d", hash: "4" },
      ],
      overrides: [
        { tool: "a", name: "b" },
        { tool: "c", name: "__proto__", description: "C." },
        { tool: "d", hidden: true },
      ],
    });
    const r = curatedTools(server("auto"), s, all);
    expect(r.tools.map((t) => t.name)).toEqual(["a", "b", "__proto__"]);
    expect(r.tools[2]!.description).toBe("C.");
    expect(r.renamed).toEqual([["__proto__", "c"]]);
    // the rules apply to the upstream name, before the rename
    expect(curatedTools(server("auto"), s, (n) => n !== "c").tools.map((t) => t.name)).toEqual(["a", "b"]);
    expect(JSON.parse(JSON.stringify(r.renamed))).toEqual([["__proto__", "c"]]);
  });
});

describe("curatedOthers", () => {
  const prompt = (name: string, description = `${name} prompt`) => ({ name, description });
  const others = (review: ServerRow["review"]) => {
    const s: Snapshot = {
      version: 1,
      status: new Map(),
      items: new Map([
        [
          "gh",
          {
            tool: [],
            prompt: [prompt("same"), prompt("changed", "changed upstream"), prompt("new")],
            resource: [{ uri: "docs://a", name: "a" }],
            resource_template: [{ uriTemplate: "docs://f/{p}", name: "f" }],
          },
        ],
      ]),
      itemHashes: new Map([
        [
          "gh",
          new Map([
            [kindKey("prompt", "same"), "h-same"],
            [kindKey("prompt", "changed"), "h-changed-live"],
            [kindKey("prompt", "new"), "h-new"],
            [kindKey("resource", "docs://a"), "h-a"],
            [kindKey("resource_template", "docs://f/{p}"), "h-f-live"],
          ]),
        ],
      ]),
      approvedItems: new Map([
        [
          "gh",
          new Map([
            [kindKey("prompt", "same"), { definition: prompt("same"), hash: "h-same" }],
            [kindKey("prompt", "changed"), { definition: prompt("changed", "as approved"), hash: "h-changed" }],
            [kindKey("prompt", "gone"), { definition: prompt("gone"), hash: "h-gone" }],
            [kindKey("resource", "docs://a"), { definition: { uri: "docs://a", name: "a" }, hash: "h-a" }],
            [
              kindKey("resource_template", "docs://f/{p}"),
              { definition: { uriTemplate: "docs://f/{p}", name: "f (approved)" }, hash: "h-f" },
            ],
          ]),
        ],
      ]),
    };
    return curatedOthers(server(review), s);
  };

  it("serves what the upstream lists under auto, with nothing held", () => {
    const o = others("auto");
    expect(o.prompts.map((p) => p.description)).toEqual(["same prompt", "changed upstream", "new prompt"]);
    expect(o.resourceTemplates).toEqual([{ uriTemplate: "docs://f/{p}", name: "f" }]);
    expect(o.heldItems).toBeUndefined();
  });

  it("under review serves approved definitions of listed items only, and holds those listed in another", () => {
    for (const mode of ["hold", "findings"] as const) {
      const o = others(mode);
      // "new" has no approval (hidden), "gone" is no longer listed (not served)
      expect(o.prompts).toEqual([prompt("same"), prompt("changed", "as approved")]);
      expect(o.resources).toEqual([{ uri: "docs://a", name: "a" }]);
      expect(o.resourceTemplates).toEqual([{ uriTemplate: "docs://f/{p}", name: "f (approved)" }]);
      expect(o.heldItems).toEqual({ prompt: ["changed"], resource_template: ["docs://f/{p}"] });
    }
  });
});
