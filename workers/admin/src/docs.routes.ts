/**
 * The admin API's own description, served beside it: `GET /admin/api/openapi.json` (built from
 * the route tables, openapi.ts), its HTML rendering `GET /admin/api/docs`, and `GET /admin/api`:
 * a browser is sent to the page, any other client gets JSON naming both (an API path answers
 * JSON, never a redirect, to a program).
 */
import { readEnv } from "../../../shared/env";
import { logoutToken } from "../../../shared/logout.token";
import type { AdminHono } from "./app";
import { AdminEnv } from "./env";
import { openApiDocument } from "./openapi";
import { referencePage } from "./ui/pages.reference";

/** Mounts the document, its page and the redirect (admins only, like the API). */
export function registerDocsRoutes(app: AdminHono) {
  app.get("/admin/api", (c) =>
    /\btext\/html\b/.test(c.req.header("accept") ?? "")
      ? c.redirect("/admin/api/docs", 302)
      : c.json({ docs: "/admin/api/docs", openapi: "/admin/api/openapi.json" }),
  );
  app.get("/admin/api/openapi.json", (c) => c.json(openApiDocument(readEnv(AdminEnv, c.env).PUBLIC_URL)));
  // an HTML page under the API path: the CSRF middleware (UI only) did not set the sign-out token
  app.get("/admin/api/docs", async (c) => {
    const email = c.get("identity").email;
    return c.html(
      referencePage(
        c.get("secureHeadersNonce") ?? "",
        email,
        await logoutToken(readEnv(AdminEnv, c.env).IDENTITY_SECRET, email),
      ),
    );
  });
}
