import { z } from "zod";

/** The edge reads no variables; its service bindings are declared in the root wrangler.toml. */
export const EdgeEnv = z.object({});
export type EdgeEnv = z.infer<typeof EdgeEnv>;
