/**
 * The signed service assertion every internal call carries (worker to worker: service bindings
 * inside one workerd process, HTTP between containers), so an internal API answers only the
 * workers that may call it - not an upstream MCP server, Open WebUI or anyone else who can
 * reach its port.
 *
 * A JWT in {@link SERVICE_ASSERTION_HEADER}: HS256 with `SERVICE_SECRET` (shared by the workers,
 * distinct from `IDENTITY_SECRET`), header `typ` {@link SERVICE_ASSERTION_TYPE}, `iss` = the
 * calling worker's service name (`mcp-gateway-mcp`), `aud` = the target's
 * (`mcp-gateway-catalog`), `iat`/`exp` with a lifetime of {@link SERVICE_ASSERTION_TTL_SECONDS}.
 * Verified like the identity assertion (shared/identity.ts): HS256 only, type, issuer among
 * those allowed, audience, expiry required. An identity assertion is not a service assertion
 * (other type, issuer set and audience) and the reverse.
 *
 * Both ends memoise in isolate memory, as the identity assertion does: a caller reuses its
 * token while more than half its lifetime is left, a verifier remembers a token it verified
 * until it expires. One secret for all workers means a worker holding it could sign as
 * another: the issuer check keeps honest workers to their routes, it is no boundary between
 * workers that share the secret.
 */
import { SignJWT, errors, jwtVerify } from "jose";
import { VersionedCache } from "./cache/versioned";
import { traceHeaders } from "./observe/trace";

/** Header carrying the service assertion. */
export const SERVICE_ASSERTION_HEADER = "X-Service-Assertion";
/** JWT `typ` of a service assertion. */
export const SERVICE_ASSERTION_TYPE = "mcpgw-service+jwt";
/** Lifetime of a service assertion. Default 60 s. */
export const SERVICE_ASSERTION_TTL_SECONDS = 60;

/** The workers, by the short name used in configs (scripts/lib/workers.ts). */
export type ServiceName = "edge" | "auth" | "catalog" | "mcp" | "admin";

/** A worker's service name as `iss`/`aud`: its wrangler `name`. */
export function serviceId(name: ServiceName): string {
  return name === "edge" ? "mcp-gateway" : `mcp-gateway-${name}`;
}

const SERVICE_IDS = new Map<string, ServiceName>(
  (["edge", "auth", "catalog", "mcp", "admin"] as const).map((n) => [serviceId(n), n]),
);

const encoder = new TextEncoder();

function key(secret: string): Uint8Array {
  if (!secret || secret.length < 32) throw new Error("SERVICE_SECRET must be at least 32 characters");
  return encoder.encode(secret);
}

const signed = new VersionedCache<string>(100);
const verified = new VersionedCache<{ from: ServiceName; to: ServiceName }>(1000);

/** A service assertion from `from` to `to` (the same token again while over half its life is left). */
export async function signServiceAssertion(
  secret: string,
  from: ServiceName,
  to: ServiceName,
  ttlSeconds = SERVICE_ASSERTION_TTL_SECONDS,
): Promise<string> {
  const memo = `${secret}\u0000${from}\u0000${to}\u0000${ttlSeconds}`;
  const hit = signed.get(memo, 0);
  if (hit) return hit;
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: SERVICE_ASSERTION_TYPE })
    .setIssuer(serviceId(from))
    .setAudience(serviceId(to))
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(key(secret));
  signed.set(memo, token, 0, Date.now() + (ttlSeconds * 1000) / 2);
  return token;
}

/**
 * Verifies a service assertion for audience `to`: signature (HS256 only), `typ`, an issuer in
 * `from`, the audience, and `exp`/`iat`. Returns the calling worker, or null.
 */
export async function verifyServiceAssertion(
  token: string | null | undefined,
  secret: string,
  to: ServiceName,
  from: readonly ServiceName[],
): Promise<ServiceName | null> {
  if (!token) return null;
  const memo = `${secret}\u0000${token}`;
  let hit = verified.get(memo, 0);
  if (!hit) {
    try {
      const { payload } = await jwtVerify(token, key(secret), {
        algorithms: ["HS256"],
        typ: SERVICE_ASSERTION_TYPE,
        audience: serviceId(to),
        requiredClaims: ["exp", "iat", "iss"],
        clockTolerance: 5,
      });
      const caller = SERVICE_IDS.get(String(payload.iss));
      if (!caller) return null;
      hit = { from: caller, to };
      verified.set(memo, hit, 0, (payload.exp ?? 0) * 1000);
    } catch (err) {
      if (err instanceof errors.JOSEError) return null;
      throw err;
    }
  }
  return hit.to === to && from.includes(hit.from) ? hit.from : null;
}

/**
 * `target` (a service binding, or any fetcher) with every request carrying a service assertion
 * from `from` to `to`, signed with `secret` (SERVICE_SECRET): what a worker calls another
 * worker's internal API through. Only `fetch` is offered (internal APIs are HTTP).
 */
export function withServiceAssertion(
  target: Pick<Fetcher, "fetch">,
  secret: string,
  from: ServiceName,
  to: ServiceName,
): Fetcher {
  key(secret); // a missing or short secret fails here, not on the first call
  const authenticated = {
    async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
      const req = new Request(input, init);
      req.headers.set(SERVICE_ASSERTION_HEADER, await signServiceAssertion(secret, from, to));
      // the current span (shared/observe/trace.ts) is the parent of the callee's
      for (const [name, value] of Object.entries(traceHeaders())) req.headers.set(name, value);
      return target.fetch(req);
    },
    connect(): never {
      throw new Error(`the internal API of ${serviceId(to)} is HTTP only`);
    },
  };
  return authenticated as unknown as Fetcher;
}
