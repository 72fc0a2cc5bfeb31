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

export function adminOnError(err: Error, c: Context): Response | Promise<Response> {
  if (err instanceof ApiError) return c.json({ error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) }, err.status);
  if (err instanceof Forbidden) {
    if (isApi(c)) return c.json({ error: "forbidden", message: err.message }, 403);
    return c.html(forbiddenPage((c.get("identity") as { email?: string } | undefined)?.email ?? "", err.page), 403);
  }
  return onError(err, c);
}
