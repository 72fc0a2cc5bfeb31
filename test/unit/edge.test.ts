import { describe, expect, it } from "vitest";
import { stripIdentityHeaders } from "../../workers/edge/src/forward-auth";
import { matchRoute } from "../../shared/edge";

describe("edge", () => {
  it("drops client identity headers in any case or underscore spelling", () => {
    const h = new Headers({ "X-User-Email": "evil@x", x_user_admin: "true", "x-USER-groups": "mcp-admin", "X-Identity-Assertion": "forged", accept: "application/json" });
    const out = stripIdentityHeaders(h);
    expect([...out.keys()]).toEqual(["accept"]);
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
