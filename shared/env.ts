/**
 * Worker environment validation: each worker declares a zod schema for its `Env` and reads it
 * through {@link readEnv}, once per isolate and env object, so a missing or malformed variable
 * fails with a message naming it instead of deep inside a handler.
 */
import { z } from "zod";

const cache = new WeakMap<object, unknown>();

export class EnvError extends Error {}

/** Parses `env` with `schema`, memoised per env object. Throws {@link EnvError} naming the bad keys. */
export function readEnv<S extends z.ZodType>(schema: S, env: unknown): z.infer<S> {
  const key = (env ?? {}) as object;
  const hit = cache.get(key);
  if (hit) return hit as z.infer<S>;
  // workerd binds an unset `fromEnvironment` variable as null; treat it as absent
  const present = Object.fromEntries(Object.entries((env ?? {}) as Record<string, unknown>).filter(([, v]) => v !== null && v !== ""));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const names = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new EnvError(`invalid worker configuration: ${names}`);
  }
  cache.set(key, parsed.data);
  return parsed.data;
}

/** A boolean from a string variable ("1", "true", "yes", "on" are true). */
export const BoolFlag = z
  .union([z.boolean(), z.string()])
  .optional()
  .transform((v) => (typeof v === "boolean" ? v : v !== undefined && /^(1|true|yes|on)$/i.test(v)));

export const DatabaseUrl = z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL");
export const IdentitySecret = z.string().min(32, "must be at least 32 characters");

/** PG_POOL_MAX: connections the worker's PgPool Durable Object may open per process (shared/pool). */
export const PoolMax = z.coerce.number().int().min(1).max(100).default(4);
