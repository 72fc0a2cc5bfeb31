import { z } from "zod";
import { DatabaseUrl, IdentitySecret } from "../../../shared/env";

export const McpEnv = z.object({
  DATABASE_URL: DatabaseUrl,
  IDENTITY_SECRET: IdentitySecret,
  PUBLIC_URL: z.string().url().optional(),
});
export type McpEnv = z.infer<typeof McpEnv>;
