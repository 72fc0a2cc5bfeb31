import { z } from "zod";
import { DatabaseUrl } from "../../../shared/env";

/** The edge's variables (service bindings are declared in the root wrangler.toml). */
export const EdgeEnv = z.object({
  /** Postgres shared by the replicas, for the rate-limit counters. Unset: each isolate limits alone. */
  DATABASE_URL: DatabaseUrl.optional(),
  /** Largest request body in bytes; larger ones get 413. Default 4194304 (4 MiB). */
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
  /** Largest request header block in bytes; larger ones get 431. Default 32768 (32 KiB). */
  MAX_HEADER_BYTES: z.coerce.number().int().min(1024).max(120_000).default(32 * 1024),
  /** Requests per user per minute across all replicas; 0 turns the limit off. Default 600. */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(600),
  /** Longest time a replica keeps admitted requests uncounted in Postgres (ms). Default 1000. */
  RATE_LIMIT_SYNC_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
});
export type EdgeEnv = z.infer<typeof EdgeEnv>;
