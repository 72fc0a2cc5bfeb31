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
  const present = Object.fromEntries(
    Object.entries((env ?? {}) as Record<string, unknown>).filter(([, v]) => v !== null && v !== ""),
  );
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

/** A yes/no switch with a default: 1/true/yes/on or 0/false/no/off; anything else is refused (not read as "off"). */
export function Switch(defaultValue: boolean) {
  return z
    .union([z.boolean(), z.string()])
    .optional()
    .superRefine((v, ctx) => {
      if (typeof v === "string" && !/^(1|true|yes|on|0|false|no|off)$/i.test(v))
        ctx.addIssue({ code: "custom", message: `must be 1 or 0 (got "${v}")` });
    })
    .transform((v) => (v === undefined ? defaultValue : typeof v === "boolean" ? v : /^(1|true|yes|on)$/i.test(v)));
}

function parsesAsUrl(v: string): boolean {
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
}

/**
 * PUBLIC_URL: the gateway's public origin (scheme, host, optional port; no path, query or
 * credentials). Required wherever it decides security - the token audience the auth worker
 * accepts, the Host and Origin checks of the mcp worker, the admin worker's Origin check - so
 * that none of them follows the client's own `Host`. Normalised without a trailing slash.
 */
export const PublicUrl = z
  .string({
    error: (i) =>
      i.input === undefined
        ? "required: the gateway's public origin, e.g. https://gateway.example.com (npm start sets it; set it in the compose file or the worker's .dev.vars)"
        : undefined,
  })
  .url("must be a URL such as https://gateway.example.com")
  .superRefine((v, ctx) => {
    if (!parsesAsUrl(v)) return; // reported by .url()
    const u = new URL(v);
    if (u.protocol !== "https:" && u.protocol !== "http:")
      ctx.addIssue({ code: "custom", message: "must be an http(s) URL" });
    else if ((u.pathname !== "/" && u.pathname !== "") || u.search || u.hash || u.username || u.password) {
      ctx.addIssue({ code: "custom", message: `must be an origin only (scheme://host[:port]), not ${v}` });
    }
  })
  .transform((v) => (parsesAsUrl(v) ? new URL(v).origin : v));

export const DatabaseUrl = z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL");
export const IdentitySecret = z.string().min(32, "must be at least 32 characters");
/** SERVICE_SECRET: HS256 key of the service assertions between workers (shared/service-auth.ts). */
export const ServiceSecret = z.string().min(32, "must be at least 32 characters");

/** PG_POOL_MAX: connections the worker's PgPool Durable Object may open per process (shared/pool). */
export const PoolMax = z.coerce.number().int().min(1).max(100).default(4);

/**
 * The request limits' variables, declared once and spread into the Env schema of every worker
 * that applies {@link requestLimits} (shared/middleware/request-limits): the edge, auth, mcp, admin.
 */
export const REQUEST_LIMIT_VARS = {
  /** Largest request body in bytes; larger ones get 413. Default 4194304 (4 MiB). */
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 * 1024),
  /** Largest request header block in bytes; larger ones get 431. Default 32768 (32 KiB). */
  MAX_HEADER_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(120_000)
    .default(32 * 1024),
};

/**
 * Observability (shared/middleware/observe), read by every worker: where traces go and the
 * token that may read /metrics besides an admin.
 */
export const OBSERVE_VARS = {
  /** OTLP/HTTP base URL (`/v1/traces` is appended); unset: no span is exported. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url("must be a URL such as http://otel-collector:4318").optional(),
  /** `http/protobuf` (default) or `http/json`. */
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(["http/protobuf", "http/json"]).default("http/protobuf"),
  /** Longest wait before a worker sends its buffered spans (ms, 0-60000; 0 = after every request). Default 1000. */
  OTEL_BSP_SCHEDULE_DELAY: z.coerce.number().int().min(0).max(60_000).default(1000),
  /** Extra headers of the export request, `name=value` pairs separated by commas (a collector's key). */
  OTEL_EXPORTER_OTLP_HEADERS: z.string().optional(),
  /** Bearer token that may read /metrics (besides an admin's credential); at least 32 characters. */
  METRICS_TOKEN: z.string().min(32, "must be at least 32 characters").optional(),
};

/** The per-user rate limit's variables (the mcp and admin workers; counters in `DATABASE_URL`). */
export const RATE_LIMIT_VARS = {
  /** Requests per user per minute across all replicas and both workers; 0 turns the limit off. Default 600. */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(600),
  /** Longest time a replica keeps admitted requests uncounted in Postgres (ms). Default 1000. */
  RATE_LIMIT_SYNC_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
};
