/** The auth worker's pure parts, inside workerd: cookie sealing, return addresses, claims, assertions. */
import { describe, expect, it } from "vitest";
import { SignJWT, UnsecuredJWT } from "jose";
import { sealCookie, unsealCookie, readCookie, setCookie } from "../../workers/auth/src/cookie";
import { safeReturnTo, secureCookies } from "../../workers/auth/src/session";
import { emailFromClaims, groupsFromClaims, pkceChallenge } from "../../workers/auth/src/oidc.client";
import { acceptedAudiences, toIdentity } from "../../workers/auth/src/credentials";
import { AuthEnv } from "../../workers/auth/src/env";
import { ASSERTION_AUDIENCE, ASSERTION_ISSUER, signAssertion, verifyAssertion } from "../../shared/identity";

const secret = "unit-test-cookie-secret-0123456789abcdef";
const baseEnv = {
  DATABASE_URL: "postgres://x@127.0.0.1/db",
  IDENTITY_SECRET: "unit-test-identity-secret-0123456789abcdef",
  PUBLIC_URL: "https://gw.example.com",
  SECRETS_KEY: "unit-test-secrets-key-0123456789abcdef",
};
const env = AuthEnv.parse({
  ...baseEnv,
  OIDC_ISSUER: "https://idp.example.com",
  OIDC_CLIENT_ID: "mcp-gateway",
  ALLOWED_REDIRECT_HOSTS: "webui.example.com, chat.example.com",
});
const origin = "https://gw.example.com";

describe("encrypted cookies", () => {
  it("round-trip", async () => {
    expect(await unsealCookie(await sealCookie({ a: 1 }, secret, "session/v1"), secret, "session/v1")).toEqual({
      a: 1,
    });
  });
  it("refuse a flipped byte", async () => {
    const s = await sealCookie({ email: "a@b.c" }, secret, "session/v1");
    const i = 20;
    expect(
      await unsealCookie(s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1), secret, "session/v1"),
    ).toBeNull();
  });
  it("refuse another key", async () => {
    expect(await unsealCookie(await sealCookie({ a: 1 }, secret, "session/v1"), secret + "x", "session/v1")).toBeNull();
  });
  it("refuse another purpose (a login-state cookie is not a session)", async () => {
    expect(await unsealCookie(await sealCookie({ a: 1 }, secret, "login-state/v1"), secret, "session/v1")).toBeNull();
  });
  it("are HttpOnly, SameSite=Lax, Secure except on plain-http localhost", () => {
    expect(setCookie("n", "v", { maxAge: 10, secure: true })).toBe(
      "n=v; Path=/; Max-Age=10; HttpOnly; SameSite=Lax; Secure",
    );
    expect(secureCookies("http://localhost:8000")).toBe(false);
    expect(secureCookies("http://gw.example.com")).toBe(true);
    expect(readCookie("a=1; mcpgw_session=xyz; b=2", "mcpgw_session")).toBe("xyz");
  });
});

describe("return addresses", () => {
  it("accept paths on this site and allowed hosts", () => {
    expect(safeReturnTo(env, origin, "/admin?x=1")).toBe("https://gw.example.com/admin?x=1");
    expect(safeReturnTo(env, origin, undefined)).toBe("https://gw.example.com/");
    expect(safeReturnTo(env, origin, "https://webui.example.com/c/1")).toBe("https://webui.example.com/c/1");
    expect(safeReturnTo(env, origin, "https://gw.example.com/mcp")).toBe("https://gw.example.com/mcp");
  });
  it.each([
    "https://evil.example/",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "data:text/html,x",
    "https://gw.example.com.evil.example/",
    "https://user@evil.example/",
    "https://gw.example.com@evil.example/",
    "/\t/evil.example",
    "http://gw.example.com/downgrade",
  ])("refuse %s", (rd) => {
    expect(safeReturnTo(env, origin, rd)).toBeNull();
  });
});

describe("claims", () => {
  it("groups: lower case, leading slash dropped, invalid names dropped, dot paths", () => {
    expect(groupsFromClaims({ groups: ["/MCP-Admin", "Team_X", "ok-1", 5] }, "groups")).toEqual(["mcp-admin", "ok-1"]);
    expect(groupsFromClaims({ realm_access: { roles: ["a", "b"] } }, "realm_access.roles")).toEqual(["a", "b"]);
    expect(groupsFromClaims({}, "groups")).toEqual([]);
  });
  it("email (default): only `email` with email_verified true; preferred_username and upn never", () => {
    const verified = { requireVerifiedEmail: true };
    expect(emailFromClaims({ email: "A@B.com", email_verified: true }, verified)).toBe("a@b.com");
    expect(emailFromClaims({ email: "A@B.com", email_verified: "true" }, verified)).toBe("a@b.com");
    expect(emailFromClaims({ email: "a@b.com" }, verified)).toBeNull();
    expect(emailFromClaims({ email: "a@b.com", email_verified: false }, verified)).toBeNull();
    expect(emailFromClaims({ email: "a@b.com", email_verified: "false" }, verified)).toBeNull();
    expect(emailFromClaims({ preferred_username: "admin@localhost", email_verified: true }, verified)).toBeNull();
    expect(emailFromClaims({ upn: "admin@localhost", email_verified: true }, verified)).toBeNull();
    expect(emailFromClaims({ email: "not-an-email", email_verified: true }, verified)).toBeNull();
  });
  it("email with OIDC_REQUIRE_EMAIL_VERIFIED=0 (Entra ID): email, else an email-shaped preferred_username or upn", () => {
    const asGiven = { requireVerifiedEmail: false };
    expect(emailFromClaims({ email: "A@B.com" }, asGiven)).toBe("a@b.com");
    expect(emailFromClaims({ preferred_username: "alice", upn: "alice@corp.example" }, asGiven)).toBe(
      "alice@corp.example",
    );
    expect(emailFromClaims({ sub: "123" }, asGiven)).toBeNull();
    expect(AuthEnv.parse({ ...baseEnv, OIDC_REQUIRE_EMAIL_VERIFIED: "0" }).OIDC_REQUIRE_EMAIL_VERIFIED).toBe(false);
    expect(env.OIDC_REQUIRE_EMAIL_VERIFIED).toBe(true);
  });
  it("audiences: the MCP resource (RFC 8707) only by default, never the client id; /admin has its own", () => {
    expect(acceptedAudiences(env, origin, "/mcp/everything")).toEqual([
      "https://gw.example.com/mcp",
      "https://gw.example.com/mcp/everything",
    ]);
    expect(acceptedAudiences(env, origin, "/mcp")).toEqual(["https://gw.example.com/mcp"]);
    expect(acceptedAudiences(env, origin, "/admin/api/whoami")).toEqual(["https://gw.example.com/admin"]);
    expect(acceptedAudiences(env, origin, "/admin")).toEqual(["https://gw.example.com/admin"]);
    const configured = AuthEnv.parse({
      ...baseEnv,
      OIDC_AUDIENCE: "api://gateway",
      OIDC_ADMIN_AUDIENCE: "api://gateway-admin",
    });
    expect(acceptedAudiences(configured, origin, "/mcp")).toEqual(["https://gw.example.com/mcp", "api://gateway"]);
    expect(acceptedAudiences(configured, origin, "/admin/api/tenants")).toEqual(["api://gateway-admin"]);
  });
  it("admins: users.is_admin or the mcp-admin group from either side", () => {
    const facts = { email: "a@b.c", displayName: "", isAdmin: false, groups: ["x"], idpGroups: [] };
    expect(toIdentity(facts, ["MCP-ADMIN"], "session").admin).toBe(true);
    expect(toIdentity(facts, [], "session").admin).toBe(false);
    expect(toIdentity({ ...facts, isAdmin: true }, [], "session").admin).toBe(true);
  });
  it("PKCE S256 (RFC 7636 appendix B)", async () => {
    expect(await pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe(
      "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    );
  });
});

describe("identity assertion attacks", () => {
  const idSecret = "unit-test-identity-secret-0123456789abcdef";
  const key = new TextEncoder().encode(idSecret);
  const claims = { groups: ["mcp-admin"], admin: true, via: "apikey" };
  it("a forged assertion (another key) is refused", async () => {
    const forged = await signAssertion(
      { email: "x@y.z", groups: [], admin: true, via: "apikey" },
      "attacker-secret-0123456789abcdef-xyz",
    );
    expect(await verifyAssertion(forged, idSecret)).toBeNull();
  });
  it("an expired assertion is refused", async () => {
    const t = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(ASSERTION_ISSUER)
      .setAudience(ASSERTION_AUDIENCE)
      .setSubject("x@y.z")
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(key);
    expect(await verifyAssertion(t, idSecret)).toBeNull();
  });
  it("a wrong-audience assertion is refused", async () => {
    const t = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(ASSERTION_ISSUER)
      .setAudience("mcp-gateway")
      .setSubject("x@y.z")
      .setExpirationTime("1m")
      .sign(key);
    expect(await verifyAssertion(t, idSecret)).toBeNull();
  });
  it("an alg:none assertion is refused", async () => {
    const t = new UnsecuredJWT(claims)
      .setIssuer(ASSERTION_ISSUER)
      .setAudience(ASSERTION_AUDIENCE)
      .setSubject("x@y.z")
      .setExpirationTime("1m")
      .encode();
    expect(await verifyAssertion(t, idSecret)).toBeNull();
  });
});
