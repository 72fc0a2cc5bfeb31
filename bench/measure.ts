/**
 * Measurement helpers of the benchmark: a closed-loop load generator with a request budget and a
 * time budget, latency percentiles, a sampler of a process tree's memory (/proc), and Postgres
 * counters (pg_stat_database: sessions opened, transactions) read around a workload.
 */
import { readFileSync, readdirSync } from "node:fs";
import type { Sql } from "../shared/db";

export interface Stats {
  p50: number;
  p99: number;
  mean: number;
  rps: number;
  count: number;
  errors: number;
  /** The first error's message, when any. */
  error?: string;
}

export const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Percentiles (nearest rank) and throughput of one run. */
export function stats(samples: number[], wallMs: number, errors: number, error?: string): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]! : NaN);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN;
  return {
    p50: round(q(0.5)),
    p99: round(q(0.99)),
    mean: round(mean),
    rps: round((s.length / wallMs) * 1000, 1),
    count: s.length,
    errors,
    ...(error ? { error } : {}),
  };
}

export interface Load<C> {
  /** Operations to run (after one warm-up per context). */
  total: number;
  concurrency: number;
  /** Stop starting new operations after this long (ms). */
  budgetMs: number;
  setup: () => Promise<C>;
  op: (ctx: C) => Promise<void>;
  teardown?: (ctx: C) => Promise<void>;
}

/** Failures of a workload: counted, never thrown, the first one's message kept for the report. */
function failures() {
  const f = {
    count: 0,
    first: undefined as string | undefined,
    add: (err: unknown) => {
      f.count++;
      f.first ??= String((err as Error)?.message ?? err).slice(0, 300);
    },
  };
  return f;
}

/**
 * Runs `op` up to `total` times over `concurrency` contexts (closed loop: each context starts its
 * next operation when the last one ended). Failures are counted, not thrown; a context whose
 * setup fails counts as one error.
 */
export async function measure<C>(l: Load<C>): Promise<Stats> {
  const failed = failures();
  const fail = failed.add;
  const settled = await Promise.allSettled(Array.from({ length: l.concurrency }, l.setup));
  const contexts: C[] = [];
  for (const s of settled) s.status === "fulfilled" ? contexts.push(s.value) : fail(s.reason);
  await Promise.all(contexts.map((ctx) => l.op(ctx).catch(fail))); // warm-up, not measured
  const samples: number[] = [];
  let started = 0;
  const t0 = performance.now();
  await Promise.all(
    contexts.map(async (ctx) => {
      while (started < l.total && performance.now() - t0 < l.budgetMs) {
        started++;
        const t = performance.now();
        try {
          await l.op(ctx);
          samples.push(performance.now() - t);
        } catch (err) {
          fail(err);
        }
      }
    }),
  );
  const wall = performance.now() - t0;
  await Promise.all(contexts.map((ctx) => (l.teardown ? l.teardown(ctx).catch(() => {}) : Promise.resolve())));
  return stats(samples, wall, failed.count, failed.first);
}

/**
 * Runs two c=1 loads side by side, one operation of each in turn (`a`, `b`, `a`, `b`, ...), so a
 * machine that speeds up or slows down during the run (other processes, the host) weighs on both
 * alike and their difference is the figure to read. Stops when either reaches its count or the
 * longer time budget has passed; each context is set up and warmed once.
 */
export async function measurePair<A, B>(a: Load<A>, b: Load<B>): Promise<[Stats, Stats]> {
  const sides = ([a, b] as Load<unknown>[]).map((l) => ({
    l,
    ctx: undefined as unknown,
    ready: false,
    samples: [] as number[],
    failed: failures(),
  }));
  type Side = (typeof sides)[number];
  const fail = (s: Side, err: unknown) => s.failed.add(err);
  for (const s of sides) {
    try {
      s.ctx = await s.l.setup();
      s.ready = true;
      await s.l.op(s.ctx).catch((err) => fail(s, err)); // warm-up, not measured
    } catch (err) {
      fail(s, err);
    }
  }
  const budget = Math.max(a.budgetMs, b.budgetMs);
  const t0 = performance.now();
  for (let n = 0; n < Math.min(a.total, b.total) && performance.now() - t0 < budget; n++) {
    for (const s of sides.filter((x) => x.ready)) {
      const t = performance.now();
      try {
        await s.l.op(s.ctx);
        s.samples.push(performance.now() - t);
      } catch (err) {
        fail(s, err);
      }
    }
  }
  for (const s of sides) if (s.ready) await s.l.teardown?.(s.ctx).catch(() => {});
  // each side's rate over its own share of the loop's time
  const own = (s: Side) => s.samples.reduce((x, y) => x + y, 0) || performance.now() - t0;
  const [sa, sb] = sides.map((s) => stats(s.samples, own(s), s.failed.count, s.failed.first));
  return [sa!, sb!];
}

/** The pid and every descendant pid of `pid`. */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const task of readdirSync(`/proc/${out[i]}/task`)) {
        const kids = readFileSync(`/proc/${out[i]}/task/${task}/children`, "utf8").trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      // gone
    }
  }
  return out;
}

function statusKb(pid: number, field: string): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`${field}:\\s+(\\d+) kB`));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Samples the resident memory of a process tree (e.g. the workerd process) every `everyMs`. */
export function memorySampler(pid: number | undefined, everyMs = 200) {
  let peakKb = 0;
  const sample = () => {
    if (!pid) return;
    const kb = tree(pid).reduce((a, p) => a + statusKb(p, "VmRSS"), 0);
    peakKb = Math.max(peakKb, kb);
  };
  const timer = setInterval(sample, everyMs);
  timer.unref();
  sample();
  return {
    /** Peak resident memory (MB): the larger of the sampled sum and the kernel's high-water marks. */
    peakMb(): number | null {
      if (!pid) return null;
      sample();
      const hwm = tree(pid).reduce((a, p) => a + statusKb(p, "VmHWM"), 0);
      return round(Math.max(peakKb, hwm) / 1024, 1);
    },
    currentMb(): number | null {
      return pid ? round(tree(pid).reduce((a, p) => a + statusKb(p, "VmRSS"), 0) / 1024, 1) : null;
    },
    processes(): number {
      return pid ? tree(pid).length : 0;
    },
    stop: () => clearInterval(timer),
  };
}

/** Postgres sessions opened and transactions committed in one database (pg_stat_database; updated about every second). */
export async function pgCounters(sql: Sql, db: string): Promise<{ sessions: number; xacts: number }> {
  await sql`SELECT pg_stat_clear_snapshot()`;
  const [r] =
    await sql`SELECT sessions, xact_commit + xact_rollback AS xacts FROM pg_stat_database WHERE datname = ${db}`;
  return { sessions: Number(r?.sessions ?? 0), xacts: Number(r?.xacts ?? 0) };
}

/** Samples how many connections one database has open (pg_stat_activity) every `everyMs`; `stop()` gives the peak and mean. */
export function connectionSampler(sql: Sql, db: string, everyMs = 100) {
  let peak = 0;
  let sum = 0;
  let n = 0;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const [r] = await sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${db}`;
      const c = Number(r?.n ?? 0);
      peak = Math.max(peak, c);
      sum += c;
      n++;
    } catch {
      // Postgres refused the sampler too (out of connections): the peak is the limit
    } finally {
      busy = false;
    }
  }, everyMs);
  return {
    stop(): { peak: number; mean: number } {
      clearInterval(timer);
      return { peak, mean: n ? round(sum / n, 1) : 0 };
    },
  };
}
