import { describe, expect, it } from "vitest";
import { Email, GroupName, Slug } from "../../shared/schemas";

describe("shared identifiers", () => {
  it("accept local-domain emails such as the bootstrap admin, lower-cased", () => {
    expect(Email.parse("admin@localhost")).toBe("admin@localhost");
    expect(Email.parse(" JoeLalama@Google.com ")).toBe("joelalama@google.com");
    for (const bad of ["no-at-sign", "two@@signs", "a b@c.d", "@nolocal", "nodomain@"])
      expect(Email.safeParse(bad).success).toBe(false);
  });

  it("fold group names to lower case and hold ids to the contract's pattern", () => {
    expect(GroupName.parse("MCP-Admin")).toBe("mcp-admin");
    expect(Slug.safeParse("-leading-dash").success).toBe(false);
    expect(Slug.safeParse("a".repeat(33)).success).toBe(false);
    expect(Slug.safeParse("ok-id-1").success).toBe(true);
  });
});
