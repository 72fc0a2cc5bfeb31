/** Admin API errors: every failure a JSON 4xx with a code, a message and (for 400) the field. */
import type { z } from "zod";

export class ApiError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/**
 * A refusal by one of the /admin guards (not an admin, another site's request, a stale form). The
 * guards throw it and the app's error handler renders it: JSON `{error: "forbidden"}` on the API,
 * the 403 page in the UI (so middleware never imports the UI).
 */
export class Forbidden extends Error {
  constructor(
    /** The API's message. */
    message: string,
    /** The UI page's sentence (absent: the page's default). */
    readonly page?: string,
  ) {
    super(message);
  }
}

/** A 400 naming the first invalid field of a zod error; `prefix` is prepended to the path. */
export function invalid(error: z.ZodError, prefix?: string): ApiError {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join(".");
  const field = path || "(body)";
  return new ApiError(400, "invalid_request", `${field}: ${issue?.message ?? "invalid"}`, field);
}

/** Parses with `schema` or throws a 400 naming the field. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, prefix?: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(r.error, prefix);
  return r.data;
}

/** Postgres error codes mapped to API errors (a race the pre-checks could not see). */
export function fromPostgres(err: unknown): ApiError | null {
  const code = (err as { code?: string } | null)?.code;
  if (code === "23503")
    return new ApiError(
      409,
      "conflict",
      "the change conflicts with rows that depend on it (e.g. a tenant that still has servers)",
    );
  if (code === "23505") return new ApiError(409, "conflict", "already exists");
  if (code === "23514") return new ApiError(400, "invalid_request", "a value is out of range", "(body)");
  return null;
}
