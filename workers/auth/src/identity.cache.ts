/**
 * Keeps Postgres off the forwardAuth hot path: identities found for a bearer credential (API key,
 * IdP token, Open WebUI token or forwarded headers) are kept in isolate memory, keyed by the
 * credential's SHA-256, and used while `catalog_state.version` has not moved. That version is
 * bumped by triggers on every change of users, memberships, grants and on API-key revocation or
 * deletion (migration 0001), so a revoked key or a removed membership is seen at the next version
 * check. The version is re-read at most every IDENTITY_VERSION_TTL_MS (default 500 ms) per
 * isolate, in the background under traffic and inline when older than 1.5 s, so a change is in
 * force within 2 s (the CONTRACT).
 *
 * Postgres unreachable: identities cached before keep working until STALE_IDENTITY_MAX_SECONDS
 * (default 60) after the last successful version check, then every request fails closed with
 * 503 {"error":"identity_unavailable"} (see verify.routes.ts). Browser sessions are not cached:
 * a logout (auth_revoked_sessions) does not bump the version.
 */
import { cacheRequests } from "../../../shared/observe/families";
import { isConnectionError } from "../../../shared/db";
import { VersionGate, VersionUnavailable, VersionedCache, type WaitUntil } from "../../../shared/cache/versioned";
import { sha256Hex } from "../../../shared/crypto";
import type { Identity } from "../../../shared/identity";
import type { AuthDb } from "./db";
import type { AuthEnv } from "./env";
import { OidcError } from "./oidc.client";

/**
 * The identity store cannot be reached and nothing recent enough is cached: answer 503. A
 * {@link VersionUnavailable}, so every route's `onError` answers it as 503 by its class (not by
 * the wording of its message).
 */
export class IdentityUnavailable extends VersionUnavailable {
  /** @param cause why the store could not be read (logged, never answered) */
  constructor(cause?: unknown) {
    super(cause);
    this.message =
      "the identity store (Postgres) cannot be reached (no connection) and this credential was not verified recently; try again shortly";
  }
}

const gate = new VersionGate();
const identities = new VersionedCache<{ identity: Identity; keyId?: string }>(20_000);

/** The catalog version this request may trust; throws {@link IdentityUnavailable}. */
async function version(env: AuthEnv, db: AuthDb, ctx: WaitUntil): Promise<number> {
  try {
    const r = await gate.current(() => db.run("catalogVersion"), ctx, {
      ttlMs: env.IDENTITY_VERSION_TTL_MS,
      staleMaxMs: env.STALE_IDENTITY_MAX_SECONDS * 1000,
    });
    return r.version;
  } catch (err) {
    if (err instanceof VersionUnavailable) throw new IdentityUnavailable(err.cause);
    throw err;
  }
}

/**
 * The identity of credential `kind:secret`: from the cache when read at the current version (and
 * not past `until`), else from `load` (null = not valid; never cached). Connection failures while
 * loading become {@link IdentityUnavailable}.
 * @param until epoch ms after which the entry must not be used (token or key expiry)
 */
export async function cachedIdentity(
  env: AuthEnv,
  db: AuthDb,
  ctx: WaitUntil,
  credential: string,
  load: () => Promise<{ identity: Identity; keyId?: string; until?: number } | null>,
): Promise<{ identity: Identity; keyId?: string } | null> {
  const key = await sha256Hex(credential);
  const v = await version(env, db, ctx);
  const hit = identities.get(key, v);
  cacheRequests.inc({ cache: "identity", result: hit ? "hit" : "miss" });
  if (hit) return hit;
  let found: Awaited<ReturnType<typeof load>>;
  try {
    found = await load();
  } catch (err) {
    if (isConnectionError(err) && !(err instanceof OidcError)) throw new IdentityUnavailable(err);
    throw err;
  }
  if (!found) return null;
  const value = { identity: found.identity, ...(found.keyId ? { keyId: found.keyId } : {}) };
  identities.set(key, value, v, found.until);
  return value;
}

/** How often one isolate records a key's last use (ms). */
const TOUCH_EVERY_MS = 60_000;
const touched = new Map<string, number>();

/** Records an API key's last use after the response, at most once a minute per key and isolate. */
export function touchKeyLater(db: AuthDb, ctx: WaitUntil, keyId: string): void {
  const now = Date.now();
  if (now - (touched.get(keyId) ?? 0) < TOUCH_EVERY_MS) return;
  if (touched.size >= 10_000) touched.clear();
  touched.set(keyId, now);
  ctx.waitUntil(
    db.run("touchApiKey", keyId).catch(() => {
      touched.delete(keyId); // try again on a later request
    }),
  );
}
