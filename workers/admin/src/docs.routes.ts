/**
 * The admin API's own description, served beside it: `GET /admin/api/openapi.json` (built from
 * the route tables, openapi.ts), its HTML rendering `GET /admin/api/docs`, and `GET /admin/api`
 * redirecting there.
 */
import { readEnv } from "../../../shared/env";
import { logoutToken } from "../../../shared/logout.token";
import type { AdminHono } from "./app";
import { AdminEnv } from "./env";
import { openApiDocument } from "./openapi";
import { referencePage } from "./ui/pages.reference";

/** Mounts the document, its page and the redirect (admins only, like the API). */
export function registerDocsRoutes(app: AdminHono) {
  app.get("/admin/api", (c) => c.redirect("/admin/api/docs", 302));
  app.get("/admin/api/openapi.json", (c) => c.json(openApiDocument(readEnv(AdminEnv, c.env).PUBLIC_URL)));
  // an HTML page under the API path: the CSRF middleware (UI only) did not set the sign-out token
  app.get("/admin/api/docs", async (c) => {
    const email = c.get("identity").email;
    return c.html(referencePage(c.get("secureHeadersNonce") ?? "", email, await logoutToken(readEnv(AdminEnv, c.env).IDENTITY_SECRET, email)));
  });
}
