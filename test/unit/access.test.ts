import { describe, expect, it } from "vitest";
import { decideTool, toolAllowed } from "../../shared/policy";

const grants = [
  { group: "devs", tenant: "t" },
  { group: "ops", tenant: "t" },
];
const rule = (group_name: string, tool: string, effect: "allow" | "deny") => ({
  group_name,
  server_id: "s",
  tool,
  effect,
});

describe("per-group tool rules", () => {
  it("shows everything without rules, and everything to admins", () => {
    expect(toolAllowed({ isAdmin: false }, { grants, rules: [] }, "anything")).toBe(true);
    expect(toolAllowed({ isAdmin: true }, { grants: [], rules: [rule("devs", "*", "deny")] }, "x")).toBe(true);
  });

  it("applies allow lists, globs and denies per group, union across groups", () => {
    const rules = [rule("devs", "read_*", "allow"), rule("devs", "read_secret", "deny"), rule("ops", "*", "deny")];
    expect(toolAllowed({ isAdmin: false }, { grants, rules }, "read_file")).toBe(true);
    expect(toolAllowed({ isAdmin: false }, { grants, rules }, "read_secret")).toBe(false);
    expect(toolAllowed({ isAdmin: false }, { grants, rules }, "write_file")).toBe(false);
    expect(toolAllowed({ isAdmin: false }, { grants: [{ group: "ops", tenant: "t" }], rules }, "read_file")).toBe(
      false,
    );
  });

  it("denies when no group grants the server", () => {
    expect(toolAllowed({ isAdmin: false }, { grants: [], rules: [] }, "x")).toBe(false);
  });
});

describe("the decision with its reasons (what the access explorer shows)", () => {
  const rules = [rule("devs", "read_*", "allow"), rule("devs", "read_secret", "deny"), rule("ops", "*", "deny")];

  it("names every granting group that exposes a visible tool", () => {
    const both = [
      { group: "devs", tenant: "t" },
      { group: "qa", tenant: "t" },
      { group: "devs", tenant: "u" },
    ];
    const d = decideTool({ isAdmin: false }, { grants: both, rules }, "read_file");
    expect(d).toEqual({ visible: true, via: both, reasons: [], admin: false });
    expect(decideTool({ isAdmin: false }, { grants: both, rules }, "write_file").via).toEqual([
      { group: "qa", tenant: "t" },
    ]);
  });

  it("says per group why a tool is hidden, each group once", () => {
    const twice = [...grants, { group: "devs", tenant: "u" }];
    expect(decideTool({ isAdmin: false }, { grants: twice, rules }, "read_secret")).toEqual({
      visible: false,
      via: [],
      reasons: ['group devs denies "read_secret"', 'group ops denies "*"'],
      admin: false,
    });
    expect(decideTool({ isAdmin: false }, { grants, rules }, "write_file").reasons).toEqual([
      'group devs allows only "read_*"',
      'group ops denies "*"',
    ]);
    expect(decideTool({ isAdmin: false }, { grants: [], rules: [] }, "x").reasons).toEqual([
      "no group grants the server",
    ]);
  });

  it("treats only * as special in patterns", () => {
    const g = [{ group: "devs", tenant: "t" }];
    const allow = (tool: string) => [rule("devs", tool, "allow")];
    expect(toolAllowed({ isAdmin: false }, { grants: g, rules: allow("a.b") }, "aXb")).toBe(false);
    expect(toolAllowed({ isAdmin: false }, { grants: g, rules: allow("a.b") }, "a.b")).toBe(true);
    expect(toolAllowed({ isAdmin: false }, { grants: g, rules: allow("read") }, "read_file")).toBe(false);
    expect(toolAllowed({ isAdmin: false }, { grants: g, rules: allow("*_file") }, "read_file")).toBe(true);
    expect(toolAllowed({ isAdmin: false }, { grants: g, rules: allow("*_file") }, "read_file2")).toBe(false);
  });

  it("marks admin visibility as such, whatever the rules", () => {
    expect(decideTool({ isAdmin: true }, { grants, rules }, "read_secret")).toEqual({
      visible: true,
      via: [],
      reasons: [],
      admin: true,
    });
  });
});
