import { z } from "zod";
import { DatabaseUrl, IdentitySecret, PublicUrl, RATE_LIMIT_VARS, REQUEST_LIMIT_VARS } from "../../../shared/env";

export const AdminEnv = z.object({
  DATABASE_URL: DatabaseUrl,
  /** Verifies identity assertions; also keys the UI's CSRF tokens (through HMAC with a label). */
  IDENTITY_SECRET: IdentitySecret,
  /** The public origin (required; e.g. https://gw.example.com); form posts must come from it or the request's own origin. */
  PUBLIC_URL: PublicUrl,
  /** Request limits and the per-user rate limit (shared/middleware/request-limits). */
  ...REQUEST_LIMIT_VARS,
  ...RATE_LIMIT_VARS,
});
export type AdminEnv = z.infer<typeof AdminEnv>;

/** Bindings the admin worker uses besides its variables (declared in wrangler.toml). */
export interface AdminBindings {
  /** The catalog worker: `POST /internal/refresh/:server` re-lists a server after a change. */
  CATALOG?: Fetcher;
  [key: string]: unknown;
}
