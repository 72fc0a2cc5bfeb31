/**
 * The CONTRACT's propagation promise, as tests check it: "A change made through the API is in
 * force for every MCP request that starts 2 seconds after the API answered". Run such a test on
 * a stack with `caches: "production"` (test/harness/stack.ts): with the TTLs forced to 0 the
 * promise holds trivially and a configuration mistake would go unseen.
 *
 *   const res = await t.fetch("/admin/api/groups/g", { method: "PUT", ... });
 *   const inForce = await untilInForce(Date.now(), warm);   // sleeps exactly to answer + 2 s
 *   ...requests started now must all see the change...
 *   await inForce.settled;
 */

/** The promise: in force for requests starting this long after the API answered. */
export const IN_FORCE_MS = 2000;

/**
 * Resolves at `answeredAt + IN_FORCE_MS`, not later than the timers allow, so the requests that
 * follow start exactly when the contract says the change is in force (a test that slept longer
 * would prove less). Meanwhile `warm` runs back to back, keeping the caches warm with the old
 * state (the case that matters); its failures are ignored, and its last call may still be in
 * flight when this resolves: the check does not wait for it. `settled` resolves when it ends.
 */
export async function untilInForce(
  answeredAt: number,
  warm?: () => Promise<unknown>,
): Promise<{ deadline: number; settled: Promise<void> }> {
  const deadline = answeredAt + IN_FORCE_MS;
  let settled = Promise.resolve();
  if (warm) {
    settled = (async () => {
      while (Date.now() < deadline - 20) {
        await warm().catch(() => {});
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  }
  await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())));
  while (Date.now() < deadline) await new Promise((r) => setTimeout(r, 1)); // timers may fire a millisecond early
  return { deadline, settled };
}
