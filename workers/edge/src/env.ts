import { z } from "zod";
import { REQUEST_LIMIT_VARS } from "../../../shared/env";

/**
 * The edge's variables (service bindings are declared in the root wrangler.toml). The per-user
 * rate limit is not among them: the mcp and admin workers apply it, whichever front is used
 * (shared/middleware/request-limits), so the edge counts nothing and needs no database.
 */
export const EdgeEnv = z.object({
  ...REQUEST_LIMIT_VARS,
});
export type EdgeEnv = z.infer<typeof EdgeEnv>;

/** The edge's service bindings (root wrangler.toml). */
export interface EdgeBindings {
  AUTH: Fetcher;
  /** The auth worker's `ForwardAuth` entrypoint (shared/edge.ts): the forwardAuth step only. */
  AUTH_VERIFY: Fetcher;
  CATALOG: Fetcher;
  MCP: Fetcher;
  ADMIN: Fetcher;
}
