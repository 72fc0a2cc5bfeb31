/**
 * The signed identity assertion the auth worker hands to the workers behind it.
 *
 * A JWT (HS256, key `IDENTITY_SECRET` shared by the workers, never by clients) with
 * `iss = mcp-gateway-auth`, `aud = mcp-gateway-internal`, `sub = email`, `groups`, `admin` and
 * a lifetime of {@link ASSERTION_TTL_SECONDS}. Workers trust the identity only through it:
 * the plain `X-User-*` headers are informational.
 *
 * Both ends memoise in isolate memory (HMAC and JWT handling were a visible share of each hop's
 * CPU): the auth worker reuses an identity's assertion while more than half its lifetime is left,
 * and the workers remember an assertion they verified, by its exact text, until it expires.
 */
import { SignJWT, jwtVerify, errors } from "jose";
import { z } from "zod";
import { VersionedCache } from "./cache/versioned";

export const ASSERTION_ISSUER = "mcp-gateway-auth";
export const ASSERTION_AUDIENCE = "mcp-gateway-internal";
/** Lifetime of an assertion. Default 60 s. */
export const ASSERTION_TTL_SECONDS = 60;

export const Identity = z.object({
  email: z.string(),
  groups: z.array(z.string()),
  admin: z.boolean(),
  /** How the caller authenticated: apikey, session, oidc-bearer, owui-session, owui-headers. */
  via: z.string(),
});
export type Identity = z.infer<typeof Identity>;

const encoder = new TextEncoder();

function key(secret: string): Uint8Array {
  if (!secret || secret.length < 32) throw new Error("IDENTITY_SECRET must be at least 32 characters");
  return encoder.encode(secret);
}

const signed = new VersionedCache<string>(10_000);
const verified = new VersionedCache<Identity>(10_000);

/** Signs an identity for the internal workers (the same token again while over half its life is left). */
export async function signAssertion(
  identity: Identity,
  secret: string,
  ttlSeconds = ASSERTION_TTL_SECONDS,
): Promise<string> {
  const memo = `${secret}\u0000${ttlSeconds}\u0000${identity.email}\u0000${identity.admin}\u0000${identity.via}\u0000${identity.groups.join("\u0000")}`;
  const hit = signed.get(memo, 0);
  if (hit) return hit;
  const token = await sign(identity, secret, ttlSeconds);
  signed.set(memo, token, 0, Date.now() + (ttlSeconds * 1000) / 2);
  return token;
}

function sign(identity: Identity, secret: string, ttlSeconds: number): Promise<string> {
  return new SignJWT({ groups: identity.groups, admin: identity.admin, via: identity.via })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(ASSERTION_ISSUER)
    .setAudience(ASSERTION_AUDIENCE)
    .setSubject(identity.email)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(key(secret));
}

/**
 * Verifies an assertion: signature (HS256 only, so `alg: none` and key confusion fail), issuer,
 * audience and expiry. Returns the identity or null.
 */
export async function verifyAssertion(token: string | null | undefined, secret: string): Promise<Identity | null> {
  if (!token) return null;
  const memo = `${secret}\u0000${token}`;
  const hit = verified.get(memo, 0);
  if (hit) return hit;
  try {
    const { payload } = await jwtVerify(token, key(secret), {
      issuer: ASSERTION_ISSUER,
      audience: ASSERTION_AUDIENCE,
      algorithms: ["HS256"],
      requiredClaims: ["exp", "sub"],
      clockTolerance: 5,
    });
    const parsed = Identity.safeParse({
      email: payload.sub,
      groups: payload.groups,
      admin: payload.admin,
      via: payload.via ?? "unknown",
    });
    if (!parsed.success) return null;
    verified.set(memo, Object.freeze(parsed.data), 0, (payload.exp ?? 0) * 1000);
    return parsed.data;
  } catch (err) {
    if (err instanceof errors.JOSEError) return null;
    throw err;
  }
}
