import { z } from "zod";
import { DatabaseUrl, PoolMax, ServiceSecret, OBSERVE_VARS } from "../../../shared/env";
import { SECRETS_KEY_VARS } from "../../../shared/secrets";

export const CatalogEnv = z.object({
  /** Traces and /metrics (shared/env.ts OBSERVE_VARS). */
  ...OBSERVE_VARS,
  DATABASE_URL: DatabaseUrl,
  /** Verifies the service assertion every /internal/* request must carry (mcp and admin sign it). */
  SERVICE_SECRET: ServiceSecret,
  /** Opens the stored upstream headers (SECRETS_KEY; SECRETS_KEY_PREVIOUS during a rotation). */
  ...SECRETS_KEY_VARS,
  /** Postgres connections this worker keeps open per process (its PgPool Durable Object). Default 4. */
  PG_POOL_MAX: PoolMax,
  /** How long a cached catalog version is trusted before Postgres is asked again (ms). Default 500. */
  CATALOG_VERSION_TTL_MS: z.coerce.number().int().min(0).max(2000).default(500),
  /** Age after which a server's snapshot is refreshed in the background (seconds). Default 300. */
  CATALOG_REFRESH_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
  /**
   * While Postgres is unreachable, the catalog cached before keeps answering this long after the
   * last successful version check, then requests fail closed (503). Default 60.
   */
  STALE_CATALOG_MAX_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  /** Bound on listing one upstream (initialize + every list), per request and overall (ms). Default 10000. */
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
});
export type CatalogEnv = z.infer<typeof CatalogEnv>;
