import { describe, expect, it } from "vitest";
import { toolAllowed } from "../../shared/repos/access.repo";

const grants = [{ group: "devs", tenant: "t" }, { group: "ops", tenant: "t" }];
const rule = (group_name: string, tool: string, effect: "allow" | "deny") => ({ group_name, server_id: "s", tool, effect });

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
    expect(toolAllowed({ isAdmin: false }, { grants: [{ group: "ops", tenant: "t" }], rules }, "read_file")).toBe(false);
  });

  it("denies when no group grants the server", () => {
    expect(toolAllowed({ isAdmin: false }, { grants: [], rules: [] }, "x")).toBe(false);
  });
});
