/** The admin worker's Hono types, shared by its route modules. */
import { Hono } from "hono";
import type { IdentityVariables } from "../../../shared/middleware/identity";
import type { AdminBindings } from "./env";

export interface AdminApp {
  Bindings: AdminBindings;
  /** `logoutToken`: the sign-out form's token for the caller (shared/logout.token.ts), set with the CSRF token. */
  Variables: IdentityVariables & { csrfToken?: string; logoutToken?: string; secureHeadersNonce?: string };
}

export const createAdminApp = () => new Hono<AdminApp>();
export type AdminHono = ReturnType<typeof createAdminApp>;
