import { z } from "zod";
import {
  DatabaseUrl,
  IdentitySecret,
  PublicUrl,
  RATE_LIMIT_VARS,
  REQUEST_LIMIT_VARS,
  ServiceSecret,
  OBSERVE_VARS,
} from "../../../shared/env";
import { SECRETS_KEY_VARS } from "../../../shared/secrets";

export const AdminEnv = z.object({
  /** Traces and /metrics (shared/env.ts OBSERVE_VARS). */
  ...OBSERVE_VARS,
  DATABASE_URL: DatabaseUrl,
  /** Verifies identity assertions; also keys the UI's CSRF tokens (through HMAC with a label). */
  IDENTITY_SECRET: IdentitySecret,
  /** Signs the service assertion of its calls to the catalog (POST /internal/refresh/:server). */
  SERVICE_SECRET: ServiceSecret,
  /** Seals server headers before they are stored (SECRETS_KEY; SECRETS_KEY_PREVIOUS opens older ones to compare). */
  ...SECRETS_KEY_VARS,
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
