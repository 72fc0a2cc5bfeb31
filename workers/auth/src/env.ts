import { z } from "zod";
import { DatabaseUrl, IdentitySecret } from "../../../shared/env";

export const AuthEnv = z.object({
  DATABASE_URL: DatabaseUrl,
  IDENTITY_SECRET: IdentitySecret,
  /** Public origin, e.g. https://gateway.example.com; defaults to the request's origin. */
  PUBLIC_URL: z.string().url().optional(),
});
export type AuthEnv = z.infer<typeof AuthEnv>;
