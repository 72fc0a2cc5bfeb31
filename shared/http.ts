/** HTTP helpers shared by the workers: the error handler that never leaks a stack trace. */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { EnvError } from "./env";
import { isConnectionError } from "./db";
import { log } from "./log";

/** Hono `onError`: 4xx from HTTPException as JSON, 503 when Postgres is unreachable, else 500 JSON. */
export function onError(err: Error, c: Context): Response {
  if (err instanceof HTTPException) {
    return c.json({ error: "bad_request", message: err.message }, err.status);
  }
  if (err instanceof EnvError) {
    log.error("config", { message: err.message });
    return c.json({ error: "misconfigured", message: "the service is misconfigured; see its log" }, 500);
  }
  if (isConnectionError(err)) {
    log.warn("database unavailable", { path: c.req.path, message: String((err as Error).message) });
    return c.json({ error: "unavailable", message: "the database is unreachable; try again shortly" }, 503);
  }
  log.error("unhandled", { path: c.req.path, message: String(err?.message ?? err) });
  return c.json({ error: "internal", message: "internal error" }, 500);
}
