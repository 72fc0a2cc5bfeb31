/** The admin worker's Hono types, shared by its route modules. */
import { Hono } from "hono";
import type { IdentityVariables } from "../../../shared/middleware/identity";
import type { AdminBindings } from "./env";

export interface AdminApp {
  Bindings: AdminBindings;
  Variables: IdentityVariables & { csrfToken?: string; cspNonce?: string };
}

export const createAdminApp = () => new Hono<AdminApp>();
export type AdminHono = ReturnType<typeof createAdminApp>;
