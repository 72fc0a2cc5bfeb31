// Tool-rule globs and effects, case by case (shared/policy.ts#toolAllowed).
import { describe, expect, it } from "vitest";
import { decideTool, toolAllowed } from "../../shared/policy";

const user = { isAdmin: false };
const grants = [{ group: "devs", tenant: "t" }];
const rule = (tool: string, effect: "allow" | "deny", group_name = "devs") => ({
  group_name,
  server_id: "s",
  tool,
  effect,
});
const allowed = (rules: ReturnType<typeof rule>[], tool: string) => toolAllowed(user, { grants, rules }, tool);

describe("tool rule globs", () => {
  it("match the whole name, not a part of it", () => {
    expect(allowed([rule("read_*", "allow")], "read_file")).toBe(true);
    expect(allowed([rule("read_*", "allow")], "xread_file")).toBe(false);
    expect(allowed([rule("read", "allow")], "reader")).toBe(false);
    expect(allowed([rule("*_file", "allow")], "read_file")).toBe(true);
    expect(allowed([rule("*_file", "allow")], "read_file2")).toBe(false);
  });

  it("treat regular-expression characters literally", () => {
    expect(allowed([rule("a.b", "allow")], "a.b")).toBe(true);
    expect(allowed([rule("a.b", "allow")], "axb")).toBe(false);
    expect(allowed([rule("a+", "allow")], "aa")).toBe(false);
    expect(allowed([rule("(x|y)", "allow")], "x")).toBe(false);
    expect(allowed([rule("(x|y)", "allow")], "(x|y)")).toBe(true);
  });
});

describe("tool rule effects", () => {
  it("deny rules alone remove only what they match", () => {
    expect(allowed([rule("secret", "deny")], "other")).toBe(true);
    expect(allowed([rule("secret", "deny")], "secret")).toBe(false);
  });

  it("any one allow rule suffices", () => {
    const rules = [rule("read_*", "allow"), rule("list_*", "allow")];
    expect(allowed(rules, "read_x")).toBe(true);
    expect(allowed(rules, "list_x")).toBe(true);
    expect(allowed(rules, "write_x")).toBe(false);
  });

  it("a group's rules apply to that group only", () => {
    const two = [
      { group: "devs", tenant: "t" },
      { group: "ops", tenant: "t" },
    ];
    expect(toolAllowed(user, { grants: two, rules: [rule("*", "deny", "devs")] }, "x")).toBe(true);
    expect(toolAllowed(user, { grants: two, rules: [rule("*", "deny", "devs"), rule("*", "deny", "ops")] }, "x")).toBe(
      false,
    );
    // rules of a group that does not grant the server do not grant it
    expect(toolAllowed(user, { grants: [], rules: [rule("*", "allow")] }, "x")).toBe(false);
  });
});

describe("tool decisions: the reasons the access explorer shows", () => {
  it("names every allow rule of a group that allows only others, once per group however many tenants it grants", () => {
    const twoTenants = [
      { group: "devs", tenant: "t1" },
      { group: "devs", tenant: "t2" },
    ];
    const d = decideTool(
      user,
      { grants: twoTenants, rules: [rule("read_*", "allow"), rule("list_*", "allow")] },
      "write_x",
    );
    expect(d).toEqual({
      visible: false,
      via: [],
      reasons: ['group devs allows only "read_*", "list_*"'],
      admin: false,
    });
    const ok = decideTool(user, { grants: twoTenants, rules: [rule("read_*", "allow")] }, "read_x");
    expect(ok).toEqual({ visible: true, via: twoTenants, reasons: [], admin: false });
  });

  it("names the deny rule, says when no group grants the server, and lets admins see everything", () => {
    expect(decideTool(user, { grants, rules: [rule("sec*", "deny")] }, "secret").reasons).toEqual([
      'group devs denies "sec*"',
    ]);
    expect(decideTool(user, { grants: [], rules: [] }, "x").reasons).toEqual(["no group grants the server"]);
    expect(decideTool({ isAdmin: true }, { grants: [], rules: [rule("*", "deny")] }, "x")).toEqual({
      visible: true,
      via: [],
      reasons: [],
      admin: true,
    });
  });
});
