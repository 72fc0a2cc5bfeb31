import { describe, expect, it } from "vitest";
import { forwardedHeaders } from "../../workers/edge/src/forward-auth";
import { isForwardAuthPath, matchRoute, normalisePath } from "../../shared/edge";
import { VERIFY_SPELLINGS } from "../harness/verify-spellings";

describe("edge", () => {
  it("drops client identity headers in any case or underscore spelling", () => {
    const h = new Headers({
      "X-User-Email": "evil@x",
      x_user_admin: "true",
      "x-USER-groups": "mcp-admin",
      "X-Identity-Assertion": "forged",
      accept: "application/json",
    });
    const out = forwardedHeaders(h);
    expect([...out.keys()]).toEqual(["accept"]);
  });

  it.each(VERIFY_SPELLINGS)("normalises %s to the forwardAuth path", (spelling) => {
    const p = normalisePath(spelling);
    expect(p).not.toBeNull();
    expect(isForwardAuthPath(p!)).toBe(true);
  });

  it.each([
    "/auth/verify%2f",
    "/auth%2fverify",
    "/auth/verify%5c",
    "/auth%5Cverify",
    "/auth/ver%00ify",
    "/auth/%zzverify",
    "/mcp/a%2fb",
  ])("refuses %s (encoded slash or backslash, control character, broken encoding)", (spelling) => {
    expect(normalisePath(spelling)).toBeNull();
  });

  it("keeps ordinary paths, their query apart, and encodes canonically (nothing decoded twice)", () => {
    expect(normalisePath("/mcp")).toBe("/mcp");
    expect(normalisePath("/mcp/")).toBe("/mcp");
    expect(normalisePath("/mcp/everything?x=1")).toBe("/mcp/everything");
    expect(normalisePath("/admin/api/users/a%40b.com")).toBe("/admin/api/users/a@b.com");
    expect(normalisePath("/admin/api/users/a%2540b")).toBe("/admin/api/users/a%2540b");
    expect(normalisePath("/x/a b")).toBe("/x/a%20b");
    expect(normalisePath("/x/%3F")).toBe("/x/%3F");
    expect(normalisePath("/../../mcp")).toBe("/mcp");
    expect(normalisePath("")).toBe("/");
    expect(isForwardAuthPath(normalisePath("/auth/verifyx")!)).toBe(false);
    expect(isForwardAuthPath(normalisePath("/auth/login")!)).toBe(false);
  });

  it("routes on segment boundaries", () => {
    expect(matchRoute("/mcp")?.worker).toBe("mcp");
    expect(matchRoute("/mcp/everything")?.worker).toBe("mcp");
    expect(matchRoute("/mcpx")).toBeUndefined();
    expect(matchRoute("/admin/api/tenants")?.worker).toBe("admin");
    expect(matchRoute("/auth/login")?.forwardAuth).toBe(false);
    expect(matchRoute("/.well-known/oauth-protected-resource/mcp")?.worker).toBe("auth");
  });
});
