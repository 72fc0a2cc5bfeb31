/**
 * The auth worker's Postgres on the forwardAuth path (key lookups, user facts, the version check,
 * last-use stamps), run by the worker's pool (PgPool Durable Object, shared/pool): a cache miss
 * costs a round trip on an open connection, never a new connection.
 */
import { poolOf, type Pool } from "../../../shared/pool";
import { catalogVersion } from "../../../shared/repos/access.repo";
import { insertRefusedCredential } from "../../../shared/repos/audit.repo";
import { findKeyOwner, touchApiKey } from "../../../shared/repos/apikeys.repo";
import { ensureUserFacts, syncIdpGroups, userFacts } from "../../../shared/repos/sessions.repo";

/** The operations the auth worker's PgPool runs. */
export const authOps = {
  catalogVersion,
  findKeyOwner,
  touchApiKey,
  userFacts,
  ensureUserFacts,
  syncIdpGroups,
  insertRefusedCredential,
};

export type AuthDb = Pool<typeof authOps>;

/** The pool behind the PG_POOL binding. */
export function authDb(bindings: Record<string, unknown>): AuthDb {
  return poolOf<typeof authOps>(bindings.PG_POOL);
}
