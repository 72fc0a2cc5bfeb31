import { z } from "zod";
import { DatabaseUrl } from "../../../shared/env";

export const CatalogEnv = z.object({
  DATABASE_URL: DatabaseUrl,
  /** How long a cached catalog version is trusted before Postgres is asked again (ms). Default 500. */
  CATALOG_VERSION_TTL_MS: z.coerce.number().int().min(0).max(2000).default(500),
});
export type CatalogEnv = z.infer<typeof CatalogEnv>;
