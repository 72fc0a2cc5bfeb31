/**
 * The admin worker's `onError`: renders the typed errors that routes and guards throw, an
 * {@link ApiError} as JSON and a {@link Forbidden} as JSON on the API or the 403 page in the UI;
 * anything else as shared/http's `onError` decides (never a stack trace).
 */
import type { Context } from "hono";
import { onError } from "../../../shared/http";
import { isApi } from "./admin.middleware";
import { ApiError, Forbidden } from "./errors";
import { forbiddenPage } from "./ui/pages.errors";
import { readEnv } from "../../../shared/env";
import { logoutToken } from "../../../shared/logout.token";
import { AdminEnv } from "./env";

/** The 403 page, with the sign-out form when someone is signed in (a guard may refuse before the CSRF middleware set its token). */
async function forbidden(c: Context, err: Forbidden): Promise<Response> {
  const email = (c.get("identity") as { email?: string } | undefined)?.email ?? "";
  let logout = c.get("logoutToken") as string | undefined;
  if (email && !logout)
    logout = await logoutToken(readEnv(AdminEnv, c.env).IDENTITY_SECRET, email).catch(() => undefined);
  return c.html(forbiddenPage(email, err.page, logout), 403);
}

export function adminOnError(err: Error, c: Context): Response | Promise<Response> {
  if (err instanceof ApiError)
    return c.json({ error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) }, err.status);
  if (err instanceof Forbidden) {
    if (isApi(c)) return c.json({ error: "forbidden", message: err.message }, 403);
    return forbidden(c, err);
  }
  return onError(err, c);
}
