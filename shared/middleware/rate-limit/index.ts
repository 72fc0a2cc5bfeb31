/**
 * Hono middleware: per-subject (per-user) rate limit over fixed one-minute windows that holds
 * across replicas (several workerd processes, several machines) sharing one Postgres.
 *
 * Design (the hot path costs no I/O):
 * - Each isolate counts admitted requests per subject in memory (`pending`) and remembers the
 *   global count of the window it last read from Postgres (`global`). A request is refused when
 *   `global + pending` reaches the limit - a pure memory check.
 * - Counts are flushed in batches: one upsert for all subjects (shared/repos/ratelimit.repo.ts,
 *   table rate_limit_counters) that returns the global counts. A flush runs in the background
 *   (`waitUntil`) at most `syncMs` after a request was admitted. It runs inline - before
 *   admitting - only for a subject's first request in the window on this isolate, for a subject
 *   past half its budget whose global count is older than `syncMs`, and for every request past
 *   `nearFraction` of the budget, so the last requests of a window are decided on a fresh count.
 * - Hot-path cost: no I/O for a subject below half its budget, apart from one round trip per
 *   subject per isolate per window (its first request).
 * - Overshoot across replicas is bounded by what the other replicas admitted within the last
 *   `syncMs` while below half the budget, plus their unflushed counts. Counts only grow within
 *   a window, so a refusal never needs the database.
 * - Postgres unreachable: the limit falls back to each isolate's own counts (fails open to a
 *   per-replica limit; the gateway keeps serving); unflushed counts are kept for the next try,
 *   and inline flushes pause for 5 s so requests do not each wait for a dead database.
 *
 * A refused request gets 429 with `Retry-After` (seconds to the window's end) and a JSON body,
 * a JSON-RPC error on MCP paths.
 *
 * One HTTP request counts once when admitted. A handler that learns the request holds more units
 * of work (a JSON-RPC batch of n messages counts n) charges the rest with `c.get("rateCharge")`,
 * which answers whether the budget held them (a refusal charges nothing).
 */
import { rateLimited } from "../../observe/families";
import type { Context, MiddlewareHandler } from "hono";
import { createSql } from "../../db";
import { errorResponse } from "../../http";
import { log } from "../../log";
import { addCounts, type CounterDelta } from "../../repos/ratelimit.repo";

/** Adds deltas to the shared counters and returns the global counts (shared/repos/ratelimit.repo.ts#addCounts). */
export type CounterStore = (deltas: CounterDelta[]) => Promise<Map<string, number>>;

/** A store over a client opened for each flush and closed after it (workers without a pool). */
export function sqlCounterStore(url: string): CounterStore {
  return async (deltas) => {
    const sql = createSql(url, { connectTimeout: 2 });
    try {
      return await addCounts(sql, deltas);
    } finally {
      await sql.end({ timeout: 2 }).catch(() => {});
    }
  };
}

export const WINDOW_MS = 60_000;

interface Entry {
  window: number;
  /** Admitted here, not yet flushed. */
  pending: number;
  /** Global count of the window as last read (includes what this isolate flushed). */
  global: number;
  /** When `global` was read (ms; 0 = never). */
  readAt: number;
}

/** The per-isolate counters (one per limiter); exported for tests. */
export class WindowCounters {
  readonly entries = new Map<string, Entry>();
  scheduled = false;
  /** No inline flush before this time (set after a failed flush). */
  backoffUntil = 0;
  private lastWarn = 0;

  entry(subject: string, now: number): Entry {
    const window = now - (now % WINDOW_MS);
    let e = this.entries.get(subject);
    if (!e || e.window !== window) {
      e = { window, pending: 0, global: 0, readAt: 0 };
      this.entries.set(subject, e);
    }
    return e;
  }

  /**
   * Sends every pending count (and, for `refresh`, a zero delta to read its global count) in one
   * batch and updates the global counts. On failure the counts stay pending.
   */
  async flush(store: CounterStore, refresh: string[] = [], now = Date.now()): Promise<void> {
    const window = now - (now % WINDOW_MS);
    const taken: { subject: string; entry: Entry; delta: number }[] = [];
    for (const [subject, e] of this.entries) {
      if (e.window < window && e.pending === 0) {
        this.entries.delete(subject);
        continue;
      }
      if (e.pending > 0 || refresh.includes(subject)) {
        taken.push({ subject, entry: e, delta: e.pending });
        e.pending = 0;
      }
    }
    if (taken.length === 0) return;
    const deltas: CounterDelta[] = taken.map((t) => ({
      subject: t.subject,
      windowStart: t.entry.window,
      delta: t.delta,
    }));
    try {
      const counts = await store(deltas);
      for (const t of taken) {
        const n = counts.get(`${t.subject}\n${t.entry.window}`);
        if (n !== undefined) t.entry.global = Math.max(t.entry.global + t.delta, n);
        t.entry.readAt = now;
      }
    } catch (err) {
      for (const t of taken) t.entry.pending += t.delta;
      this.backoffUntil = now + 5000;
      if (now - this.lastWarn > 10_000) {
        this.lastWarn = now;
        log.warn("rate limit counters not shared", { message: String((err as Error)?.message ?? err) });
      }
    }
  }
}

export interface RateLimitOptions {
  /** Requests per subject per minute; 0 turns the limit off. */
  limit: (c: Context) => number;
  /** Who is counted; null skips the limit (e.g. an unauthenticated request). */
  subject: (c: Context) => string | null;
  /** The counters shared by the replicas (Postgres); undefined keeps the limit per isolate. */
  store?: (c: Context) => CounterStore | undefined;
  /** Longest time an admitted request stays unflushed (ms). Default 1000. */
  syncMs?: number | ((c: Context) => number);
  /** Fraction of the limit past which each request is decided on a fresh global count. Default 0.8. */
  nearFraction?: number;
  /** The counters; default a new set per middleware instance (per isolate). */
  counters?: WindowCounters;
}

/** Charges `units` more to the admitted request's subject; false (nothing charged) when that passes the limit. Set on the context as `rateCharge`. */
export type RateCharge = (units: number) => { ok: true } | { ok: false; retryAfter: number; limit: number };

/** Returns the `rateLimit` middleware. */
export function rateLimit(opts: RateLimitOptions): MiddlewareHandler {
  const counters = opts.counters ?? new WindowCounters();
  const near = opts.nearFraction ?? 0.8;
  return async function rateLimitMiddleware(c, next) {
    const limit = opts.limit(c);
    const subject = limit > 0 ? opts.subject(c) : null;
    if (subject === null) return next();
    const open = opts.store?.(c) ?? null;
    const syncMs = typeof opts.syncMs === "function" ? opts.syncMs(c) : (opts.syncMs ?? 1000);
    const now = Date.now();
    let e = counters.entry(subject, now);
    const estimate = e.global + e.pending + 1;
    const stale = now - e.readAt > syncMs;
    const fresh = e.readAt === 0 || (estimate > limit / 2 && stale) || estimate > limit * near;
    if (open && estimate <= limit && now >= counters.backoffUntil && fresh) {
      await counters.flush(open, [subject], now);
      e = counters.entry(subject, now);
    }
    if (e.global + e.pending + 1 > limit) {
      const retry = Math.max(1, Math.ceil((e.window + WINDOW_MS - now) / 1000));
      rateLimited.inc({ limit: "per_user_minute" });
      return errorResponse(
        c.req.path,
        429,
        "rate_limited",
        `rate limit of ${limit} requests per minute reached; retry after ${retry} s`,
        { "Retry-After": String(retry) },
      );
    }
    e.pending++;
    const charged = e;
    const charge: RateCharge = (units) => {
      const n = Math.max(0, Math.floor(units));
      if (charged.global + charged.pending + n > limit)
        return {
          ok: false,
          retryAfter: Math.max(1, Math.ceil((charged.window + WINDOW_MS - Date.now()) / 1000)),
          limit,
        };
      charged.pending += n;
      return { ok: true };
    };
    c.set("rateCharge" as never, charge as never);
    if (open && !counters.scheduled) {
      counters.scheduled = true;
      c.executionCtx.waitUntil(
        new Promise((r) => setTimeout(r, syncMs))
          .then(() => {
            counters.scheduled = false;
            return counters.flush(open);
          })
          .catch(() => {
            counters.scheduled = false;
          }),
      );
    }
    await next();
  };
}
