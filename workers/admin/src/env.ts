import { z } from "zod";
import { DatabaseUrl, IdentitySecret } from "../../../shared/env";

export const AdminEnv = z.object({
  DATABASE_URL: DatabaseUrl,
  IDENTITY_SECRET: IdentitySecret,
  PUBLIC_URL: z.string().url().optional(),
});
export type AdminEnv = z.infer<typeof AdminEnv>;
