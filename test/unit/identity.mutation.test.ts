// What the identity assertion must refuse, claim by claim, and how its memos behave; written
// against the literal wire values (not the module's constants) so that a changed constant fails.
// Runs in Node (vitest.mutation.config.ts, the set Stryker mutates against) and in workerd.
import { afterEach, describe, expect, it, vi } from "vitest";
import { SignJWT, decodeJwt, decodeProtectedHeader } from "jose";
import { signAssertion, verifyAssertion } from "../../shared/identity";

const secret = "unit-test-identity-secret-0123456789abcdef";
const key = new TextEncoder().encode(secret);
const who = { email: "m@example.com", groups: ["g1"], admin: false, via: "apikey" };

/** A token made by hand: the claims the auth worker sets, minus/plus what a test changes. */
function forge(
  opts: {
    iss?: string | null;
    aud?: string | null;
    sub?: string | null;
    exp?: number | null;
    claims?: Record<string, unknown>;
    alg?: string;
  } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ groups: ["g"], admin: true, via: "apikey", ...opts.claims })
    .setProtectedHeader({ alg: opts.alg ?? "HS256" })
    .setIssuedAt(now);
  if (opts.iss !== null) jwt.setIssuer(opts.iss ?? "mcp-gateway-auth");
  if (opts.aud !== null) jwt.setAudience(opts.aud ?? "mcp-gateway-internal");
  if (opts.sub !== null) jwt.setSubject(opts.sub ?? "forged@example.com");
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? now + 60);
  return jwt.sign(opts.alg === "HS512" ? new TextEncoder().encode(secret + secret) : key);
}

afterEach(() => {
  vi.useRealTimers();
});

describe("identity assertion: claims", () => {
  it("carries iss mcp-gateway-auth, aud mcp-gateway-internal, sub, typ JWT and a 60 s lifetime", async () => {
    const token = await signAssertion({ ...who, email: "claims@example.com" }, secret);
    expect(decodeProtectedHeader(token)).toEqual({ alg: "HS256", typ: "JWT" });
    const c = decodeJwt(token);
    expect(c).toMatchObject({
      iss: "mcp-gateway-auth",
      aud: "mcp-gateway-internal",
      sub: "claims@example.com",
      groups: ["g1"],
      admin: false,
      via: "apikey",
    });
    expect(c.exp! - c.iat!).toBe(60);
  });

  it("accepts a token with exactly the expected claims", async () => {
    expect(await verifyAssertion(await forge(), secret)).toEqual({
      email: "forged@example.com",
      groups: ["g"],
      admin: true,
      via: "apikey",
    });
  });

  it("refuses another issuer, a missing issuer, another or no audience", async () => {
    expect(await verifyAssertion(await forge({ iss: "someone-else" }), secret)).toBeNull();
    expect(await verifyAssertion(await forge({ iss: null }), secret)).toBeNull();
    expect(await verifyAssertion(await forge({ aud: "mcp-gateway" }), secret)).toBeNull();
    expect(await verifyAssertion(await forge({ aud: null }), secret)).toBeNull();
  });

  it("refuses a token without exp (it would never expire) or without sub", async () => {
    expect(await verifyAssertion(await forge({ exp: null }), secret)).toBeNull();
    expect(await verifyAssertion(await forge({ sub: null }), secret)).toBeNull();
  });

  it("refuses another HMAC algorithm and claims of the wrong shape", async () => {
    expect(await verifyAssertion(await forge({ alg: "HS512" }), secret)).toBeNull();
    expect(await verifyAssertion(await forge({ claims: { groups: "mcp-admin" } }), secret)).toBeNull();
    expect(await verifyAssertion(await forge({ claims: { admin: "yes" } }), secret)).toBeNull();
  });

  it("names the sign-in method unknown when the token does not", async () => {
    expect(await verifyAssertion(await forge({ claims: { via: undefined } }), secret)).toMatchObject({
      via: "unknown",
    });
  });

  it("refuses a secret shorter than 32 characters, on both ends, with a message naming it", async () => {
    await expect(signAssertion(who, "x".repeat(31))).rejects.toThrow("IDENTITY_SECRET must be at least 32 characters");
    await expect(signAssertion(who, "")).rejects.toThrow("IDENTITY_SECRET must be at least 32 characters");
    await expect(verifyAssertion(await forge(), "x".repeat(31))).rejects.toThrow(
      "IDENTITY_SECRET must be at least 32 characters",
    );
    // exactly 32 is enough
    const k32 = "k".repeat(32);
    expect(await verifyAssertion(await signAssertion(who, k32), k32)).toEqual(who);
  });
});

describe("identity assertion: memos", () => {
  it("reuses a signed assertion while over half its lifetime is left, then signs anew", async () => {
    // the memo expires on the real clock; jose's iat follows the faked Date, so a token signed
    // anew differs from the memoised one
    const start = Date.now();
    vi.useFakeTimers({ now: start, toFake: ["Date"] });
    const id = { ...who, email: "memo@example.com" };
    const first = await signAssertion(id, secret, 2);
    vi.setSystemTime(start + 1_500);
    expect(await signAssertion(id, secret, 2)).toBe(first);
    await new Promise((r) => setTimeout(r, 1_150)); // real time past half of the 2 s lifetime
    const later = await signAssertion(id, secret, 2);
    expect(later).not.toBe(first);
    expect(decodeJwt(later).iat).toBeGreaterThan(decodeJwt(first).iat!);
    expect(decodeJwt(later).exp! - decodeJwt(later).iat!).toBe(2);
  });

  it("never hands one identity another's memoised assertion", async () => {
    const a = await signAssertion({ ...who, email: "x@example.com", groups: ["ab"] }, secret);
    const b = await signAssertion({ ...who, email: "x@example.com", groups: ["a", "b"] }, secret);
    const c = await signAssertion({ ...who, email: "y@example.com" }, secret);
    expect((await verifyAssertion(a, secret))?.groups).toEqual(["ab"]);
    expect((await verifyAssertion(b, secret))?.groups).toEqual(["a", "b"]);
    expect((await verifyAssertion(c, secret))?.email).toBe("y@example.com");
  });

  it("remembers a verified assertion (the same frozen identity) until it expires", async () => {
    const token = await signAssertion({ ...who, email: "verified-memo@example.com" }, secret);
    const first = await verifyAssertion(token, secret);
    expect(Object.isFrozen(first)).toBe(true);
    expect(await verifyAssertion(token, secret)).toBe(first);
    // not under another secret
    expect(await verifyAssertion(token, secret + "-other")).toBeNull();
  });
});
