import { describe, expect, it } from "vitest";
import { SignJWT, UnsecuredJWT } from "jose";
import { signAssertion, verifyAssertion, ASSERTION_AUDIENCE, ASSERTION_ISSUER } from "../../shared/identity";

const secret = "unit-test-identity-secret-0123456789abcdef";
const who = { email: "a@example.com", groups: ["g1"], admin: false, via: "apikey" };

describe("identity assertion", () => {
  it("round-trips a signed identity", async () => {
    expect(await verifyAssertion(await signAssertion(who, secret), secret)).toEqual(who);
  });

  it("refuses another key, alg none, wrong audience and expired tokens", async () => {
    expect(await verifyAssertion(await signAssertion(who, secret), secret + "x")).toBeNull();
    const none = new UnsecuredJWT({ groups: [], admin: true })
      .setIssuer(ASSERTION_ISSUER)
      .setAudience(ASSERTION_AUDIENCE)
      .setSubject("x@y.z")
      .setExpirationTime("1m")
      .encode();
    expect(await verifyAssertion(none, secret)).toBeNull();
    const key = new TextEncoder().encode(secret);
    const wrongAud = await new SignJWT({ groups: [], admin: true })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(ASSERTION_ISSUER)
      .setAudience("other")
      .setSubject("x@y.z")
      .setExpirationTime("1m")
      .sign(key);
    expect(await verifyAssertion(wrongAud, secret)).toBeNull();
    const expired = await new SignJWT({ groups: [], admin: true })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(ASSERTION_ISSUER)
      .setAudience(ASSERTION_AUDIENCE)
      .setSubject("x@y.z")
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(key);
    expect(await verifyAssertion(expired, secret)).toBeNull();
    expect(await verifyAssertion("garbage", secret)).toBeNull();
    expect(await verifyAssertion(undefined, secret)).toBeNull();
  });
});
