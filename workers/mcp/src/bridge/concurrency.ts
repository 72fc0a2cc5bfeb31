/**
 * A bound on one user's upstream calls in flight in this isolate (MAX_CONCURRENT_CALLS_PER_USER):
 * one user's burst - a large batch, many parallel requests - cannot occupy every upstream
 * connection of a replica. A call past the bound is refused at once (never queued behind other
 * requests: a request must not wait on another's I/O in workerd).
 */
const inflight = new Map<string, number>();

/** Takes a slot for `user`; returns its release, or null when the user already has `max` calls in flight. */
export function acquireSlot(user: string, max: number): (() => void) | null {
  const n = inflight.get(user) ?? 0;
  if (n >= max) return null;
  inflight.set(user, n + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (inflight.get(user) ?? 1) - 1;
    if (left <= 0) inflight.delete(user);
    else inflight.set(user, left);
  };
}

/** Calls in flight for a user in this isolate (tests, metrics). */
export function slotsInUse(user: string): number {
  return inflight.get(user) ?? 0;
}
