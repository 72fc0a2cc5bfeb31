// Request limits at their boundaries, and the rate limiter's shared-counter protocol. The
// counters shared by replicas live in Postgres in production (shared/repos/ratelimit.repo.ts,
// exercised across two workerd processes in test/integration/fuzz-limits.test.ts); here a Map
// with addCounts' contract (add each delta, answer the global counts keyed "<subject>\n<window>")
// stands in for it, so the limiter's decisions can be checked one by one, without a database.
import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bodyLimit } from "../../shared/middleware/body-limit";
import { headerBytes, headerLimit } from "../../shared/middleware/header-limit";
import { requestLimits, userRateLimit } from "../../shared/middleware/request-limits";
import {
  rateLimit,
  WINDOW_MS,
  WindowCounters,
  type CounterStore,
  type RateCharge,
} from "../../shared/middleware/rate-limit";
import type { CounterDelta } from "../../shared/repos/ratelimit.repo";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("bodyLimit boundaries", () => {
  const app = (max?: number) =>
    new Hono()
      .use("*", bodyLimit(max === undefined ? {} : { maxBytes: max }))
      .post("*", async (c) => c.json({ length: (await c.req.text()).length }));

  it("accepts a declared length equal to the limit and names the limit when refusing", async () => {
    const a = app(100);
    expect(
      (await a.request("/x", { method: "POST", body: "a".repeat(100), headers: { "content-length": "100" } })).status,
    ).toBe(200);
    const res = await a.request("/x", { method: "POST", body: "a".repeat(101), headers: { "content-length": "101" } });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({
      error: "body_too_large",
      message: "the request body exceeds the limit of 100 bytes",
    });
  });

  it("refuses a declared length that is not a number", async () => {
    const res = await app(100).request("/x", { method: "POST", body: "a", headers: { "content-length": "abc" } });
    expect(res.status).toBe(413);
    // a number with something before or after it is not a number either (Hono's parseInt would take it)
    for (const declared of ["1abc", "abc1", "1 1"]) {
      const r = await app(100).request("/x", { method: "POST", body: "a", headers: { "content-length": declared } });
      expect(r.status, declared).toBe(413);
    }
  });

  it("defaults to 4 MiB", async () => {
    const a = app();
    const max = 4 * 1024 * 1024;
    expect(
      (await a.request("/x", { method: "POST", body: "a".repeat(max), headers: { "content-length": String(max) } }))
        .status,
    ).toBe(200);
    expect(
      (await a.request("/x", { method: "POST", body: "a", headers: { "content-length": String(max + 1) } })).status,
    ).toBe(413);
  });
});

describe("headerLimit boundaries", () => {
  const app = (opts: Parameters<typeof headerLimit>[0]) =>
    new Hono().use("*", headerLimit(opts)).all("*", (c) => c.json({ ok: true }));
  /** Headers of exactly `bytes` bytes on the wire (one header "x-pad"). */
  const sized = (bytes: number, char = "z") => ({ "x-pad": char.repeat(bytes - "x-pad".length - 4) });

  it("admits exactly the limit, refuses one byte more, and says both sizes", async () => {
    const a = app({ maxBytes: 300 });
    expect(headerBytes(new Headers(sized(300)))).toBe(300);
    expect((await a.request("/x", { headers: sized(300) })).status).toBe(200);
    const res = await a.request("/x", { headers: sized(301) });
    expect(res.status).toBe(431);
    expect(await res.json()).toMatchObject({
      error: "headers_too_large",
      message: "request headers take 301 bytes; the limit is 300",
    });
  });

  it("counts UTF-8 bytes, not characters, near the limit", async () => {
    // header values are Latin-1: "é" is one character and two bytes of UTF-8
    const small = app({ maxBytes: 100 });
    expect((await small.request("/x", { headers: { "x-pad": "é".repeat(46) } })).status).toBe(431); // 5 + 92 + 4 bytes
    expect((await small.request("/x", { headers: { "x-pad": "é".repeat(45) } })).status).toBe(200); // 5 + 90 + 4 bytes, 54 characters
    expect(headerBytes(new Headers({ "x-pad": "é".repeat(30) }))).toBe(5 + 60 + 4);
    // the quick character bound (3 bytes per character, with the 4 bytes of ": " and CRLF) never
    // passes a block that is over the limit in bytes
    expect(headerBytes(new Headers({ a: "é".repeat(13) }))).toBe(31);
    expect((await app({ maxBytes: 30 }).request("/x", { headers: { a: "é".repeat(13) } })).status).toBe(431);
  });

  it("leaves excluded headers out of both counts, in any case", async () => {
    const a = app({ maxBytes: 300, exclude: ["X-Identity-Assertion"] });
    expect((await a.request("/x", { headers: { "x-identity-assertion": "j".repeat(2000) } })).status).toBe(200);
    expect((await a.request("/x", { headers: { "x-identity-assertion": "j".repeat(10), ...sized(301) } })).status).toBe(
      431,
    );
    expect(headerBytes(new Headers({ a: "b", c: "d" }), new Set(["a"]))).toBe(6);
    // nothing is excluded by default
    expect(
      (await app({ maxBytes: 300 }).request("/x", { headers: { "x-identity-assertion": "j".repeat(400) } })).status,
    ).toBe(431);
  });

  it("defaults to 32 KiB", async () => {
    const a = app({});
    expect((await a.request("/x", { headers: sized(32768) })).status).toBe(200);
    expect((await a.request("/x", { headers: sized(32769) })).status).toBe(431);
  });
});

describe("requestLimits media types", () => {
  const settings = () => ({ MAX_BODY_BYTES: 1024, MAX_HEADER_BYTES: 1024 });
  const a = new Hono().use("*", ...requestLimits(settings)).all("*", (c) => c.json({ ok: true }));
  const send = (path: string, method: string, type?: string) =>
    a.request(path, { method, headers: type ? { "content-type": type } : {}, body: "{}" });

  it("takes application/json on /mcp and on the admin API's POST, PUT and PATCH", async () => {
    expect((await send("/mcp", "POST", "application/json")).status).toBe(200);
    for (const m of ["POST", "PUT", "PATCH"]) {
      expect((await send("/admin/api/x", m, "application/json")).status).toBe(200);
      expect((await send("/admin/api/x", m, "text/plain")).status).toBe(415);
    }
    expect((await send("/admin/api/x", "DELETE", "text/plain")).status).toBe(200);
  });
});

/** An in-memory stand-in for the Postgres counters (see the file header). */
function memoryStore() {
  const rows = new Map<string, number>();
  const calls: CounterDelta[][] = [];
  const state = { fail: false, lie: undefined as number | undefined };
  const store: CounterStore = async (deltas) => {
    calls.push(deltas.map((d) => ({ ...d })));
    if (state.fail) throw new Error("connection refused");
    const out = new Map<string, number>();
    for (const d of deltas) {
      const k = `${d.subject}\n${d.windowStart}`;
      rows.set(k, (rows.get(k) ?? 0) + d.delta);
      out.set(k, state.lie ?? rows.get(k)!);
    }
    return out;
  };
  /** Another replica's count for `subject` in the current window. */
  const elsewhere = (subject: string, n: number) => {
    const now = Date.now();
    const k = `${subject}\n${now - (now % WINDOW_MS)}`;
    rows.set(k, (rows.get(k) ?? 0) + n);
  };
  return { store, calls, rows, state, elsewhere };
}

/** A waitUntil that remembers its promises. */
function executionCtx() {
  const waits: Promise<unknown>[] = [];
  return { waits, ctx: { waitUntil: (p: Promise<unknown>) => waits.push(p), passThroughOnException() {}, props: {} } };
}

function limiter(
  limit: number,
  s: ReturnType<typeof memoryStore> | null,
  opts: { syncMs?: number; nearFraction?: number; counters?: WindowCounters; units?: number } = {},
) {
  const counters = opts.counters ?? new WindowCounters();
  const app = new Hono()
    .use(
      "*",
      rateLimit({
        limit: () => limit,
        subject: (c) => c.req.header("x-user") ?? null,
        store: s ? () => s.store : undefined,
        syncMs: opts.syncMs,
        nearFraction: opts.nearFraction,
        counters,
      }),
    )
    .all("*", (c) => {
      const charge = (c.get("rateCharge" as never) as RateCharge | undefined) ?? null;
      const units = Number(c.req.header("x-units") ?? 0);
      return c.json({ charged: units && charge ? charge(units) : null });
    });
  const { waits, ctx } = executionCtx();
  const req = (user: string, headers: Record<string, string> = {}) =>
    app.request("/admin/api/x", { headers: { "x-user": user, ...headers } }, {}, ctx as never);
  return { app, req, counters, waits };
}

describe("rateLimit with shared counters", () => {
  it("reads the global count before a subject's first request here, and refuses when other replicas used the budget", async () => {
    const s = memoryStore();
    s.elsewhere("a@x", 3);
    const { req } = limiter(3, s, { syncMs: 60_000 });
    const res = await req("a@x");
    expect(res.status).toBe(429);
    expect(s.calls[0]).toEqual([{ subject: "a@x", windowStart: expect.any(Number), delta: 0 }]);
    expect(s.calls[0]![0]!.windowStart % WINDOW_MS).toBe(0);
    expect(await res.json()).toMatchObject({
      error: "rate_limited",
      message: expect.stringMatching(/^rate limit of 3 requests per minute reached; retry after \d+ s$/),
    });
  });

  it("admits what is left of the global budget", async () => {
    const s = memoryStore();
    s.elsewhere("a@x", 2);
    const { req } = limiter(5, s, { syncMs: 60_000, nearFraction: 1 });
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await req("a@x")).status);
    expect(codes).toEqual([200, 200, 200, 429, 429]);
  });

  it("flushes admitted counts in the background after syncMs, once for many requests", async () => {
    const s = memoryStore();
    const { req, waits, counters } = limiter(100, s, { syncMs: 30 });
    for (let i = 0; i < 4; i++) expect((await req("b@x")).status).toBe(200);
    expect(waits).toHaveLength(1);
    expect(counters.scheduled).toBe(true);
    await Promise.all(waits);
    expect(counters.scheduled).toBe(false);
    const sent = s.calls
      .flat()
      .filter((d) => d.subject === "b@x")
      .reduce((n, d) => n + d.delta, 0);
    expect(sent).toBe(4);
    expect([...s.rows.values()]).toEqual([4]);
    // the next request schedules the next flush
    await req("b@x");
    expect(waits).toHaveLength(2);
    await Promise.all(waits);
    expect([...s.rows.values()]).toEqual([5]);
  });

  it("waits syncMs before the background flush", async () => {
    const s = memoryStore();
    const { req, waits } = limiter(100, s, { syncMs: 150 });
    await req("c@x");
    const before = s.calls.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(s.calls.length).toBe(before);
    await Promise.all(waits);
    expect(s.calls.length).toBe(before + 1);
  });

  it("decides every request past nearFraction of the budget on a fresh count", async () => {
    const s = memoryStore();
    const { req } = limiter(10, s, { syncMs: 60_000 });
    for (let i = 0; i < 8; i++) await req("d@x");
    // only the first request read the count
    expect(s.calls.length).toBe(1);
    s.elsewhere("d@x", 2);
    // the 9th is past 0.8 * 10: read inline, 8 (own, flushed) + 2 elsewhere leaves no room
    expect((await req("d@x")).status).toBe(429);
  });

  it("defaults nearFraction to 0.8", async () => {
    const s = memoryStore();
    const { req } = limiter(10, s, { syncMs: 60_000 });
    for (let i = 0; i < 8; i++) await req("n@x");
    expect(s.calls.length).toBe(1);
    await req("n@x");
    expect(s.calls.length).toBe(2);
  });

  it("re-reads a stale count once past half the budget, and not before", async () => {
    const s = memoryStore();
    const { req } = limiter(10, s, { syncMs: 40, nearFraction: 1 });
    for (let i = 0; i < 5; i++) await req("e@x");
    const calls = s.calls.length;
    await new Promise((r) => setTimeout(r, 60));
    // the background flush ran (one call); once its count is stale, the 6th request is past half: inline
    const afterBackground = s.calls.length;
    expect(afterBackground).toBe(calls + 1);
    await new Promise((r) => setTimeout(r, 60));
    await req("e@x");
    expect(s.calls.length).toBe(afterBackground + 1);
    // right after a read the count is fresh: no inline read
    await req("e@x");
    expect(s.calls.length).toBe(afterBackground + 1);
  });

  it("does not re-read below half the budget however stale the count", async () => {
    const s = memoryStore();
    const { req } = limiter(10, s, { syncMs: 1, nearFraction: 1 });
    await req("f@x");
    await new Promise((r) => setTimeout(r, 20));
    const calls = s.calls.length;
    await req("f@x"); // estimate 2 (or 1 after the background flush): below 5
    const inline = s.calls.slice(calls).filter((d) => d.some((x) => x.delta === 0));
    expect(inline).toHaveLength(0);
  });

  it("keeps counts when the store fails, backs off inline reads for 5 s, and warns once", async () => {
    const s = memoryStore();
    s.state.fail = true;
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const { req, counters } = limiter(3, s, { syncMs: 60_000 });
    const t0 = Date.now();
    expect((await req("g@x")).status).toBe(200);
    expect(counters.backoffUntil).toBeGreaterThanOrEqual(t0 + 5000);
    expect(counters.backoffUntil).toBeLessThanOrEqual(Date.now() + 5000);
    expect(s.calls.length).toBe(1);
    // during the back-off: no inline reads; the per-isolate count still limits
    expect((await req("g@x")).status).toBe(200);
    expect((await req("g@x")).status).toBe(200);
    expect((await req("g@x")).status).toBe(429);
    expect(s.calls.length).toBe(1);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toContain("rate limit counters not shared");
    expect(String(warn.mock.calls[0]![0])).toContain("connection refused");
    // the counts were kept: they reach the store once it answers
    s.state.fail = false;
    await counters.flush(s.store);
    expect([...s.rows.values()].reduce((a, b) => a + b, 0)).toBe(3);
  });

  it("names what the store threw, Error or not", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const t = 30 * WINDOW_MS;
    const a = new WindowCounters();
    a.entry("x@x", t).pending = 1;
    await a.flush(async () => Promise.reject("boom"), [], t);
    expect(String(warn.mock.calls[0]![0])).toContain("boom");
    const b = new WindowCounters();
    b.entry("y@x", t).pending = 1;
    await b.flush(async () => Promise.reject(null), [], t);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(b.entries.get("y@x")!.pending).toBe(1);
  });

  it("takes syncMs from a function of the request", async () => {
    const s = memoryStore();
    const app = new Hono()
      .use("*", rateLimit({ limit: () => 100, subject: () => "fn@x", store: () => s.store, syncMs: () => 60_000 }))
      .all("*", (c) => c.json({}));
    const { waits, ctx } = executionCtx();
    await app.request("/x", {}, {}, ctx as never);
    expect(waits).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 80));
    // only the first request's inline read: the background flush waits a minute
    expect(s.calls).toHaveLength(1);
  });

  it("warns again only after 10 s", async () => {
    const s = memoryStore();
    s.state.fail = true;
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const counters = new WindowCounters();
    const t = 10 * WINDOW_MS;
    counters.entry("h@x", t).pending = 1;
    await counters.flush(s.store, [], t + 20_000);
    await counters.flush(s.store, [], t + 30_000);
    expect(warn).toHaveBeenCalledTimes(1);
    await counters.flush(s.store, [], t + 30_001);
    expect(warn).toHaveBeenCalledTimes(2);
    // the pending count survived three failures
    expect(counters.entries.get("h@x")!.pending).toBe(1);
  });

  it("never lowers a count below what this isolate sent", async () => {
    const s = memoryStore();
    const counters = new WindowCounters();
    const now = Date.now();
    const e = counters.entry("i@x", now);
    e.global = 5;
    e.pending = 2;
    s.state.lie = 1;
    await counters.flush(s.store, [], now);
    expect(e.global).toBe(7);
    expect(e.pending).toBe(0);
    expect(e.readAt).toBe(now);
    s.state.lie = 20;
    e.pending = 1;
    await counters.flush(s.store, [], now);
    expect(e.global).toBe(20);
  });

  it("leaves a count alone when the store does not answer for it, and skips an empty flush", async () => {
    const counters = new WindowCounters();
    const now = Date.now();
    const e = counters.entry("j@x", now);
    e.pending = 2;
    const calls: CounterDelta[][] = [];
    await counters.flush(async (d) => (calls.push(d), new Map()), [], now);
    expect(e.global).toBe(0);
    expect(e.readAt).toBe(now);
    await counters.flush(async (d) => (calls.push(d), new Map()), [], now);
    expect(calls).toHaveLength(1);
    // a refresh of a subject with nothing pending still asks
    await counters.flush(async (d) => (calls.push(d), new Map()), ["j@x"], now);
    expect(calls[1]).toEqual([{ subject: "j@x", windowStart: now - (now % WINDOW_MS), delta: 0 }]);
  });

  it("drops entries of past windows once flushed, and still sends their unflushed counts", async () => {
    const s = memoryStore();
    const counters = new WindowCounters();
    const t = 20 * WINDOW_MS;
    counters.entry("old@x", t + 10);
    counters.entry("late@x", t + 10).pending = 3;
    counters.entry("now@x", t + WINDOW_MS + 5);
    await counters.flush(s.store, [], t + WINDOW_MS + 10);
    expect(counters.entries.has("old@x")).toBe(false);
    expect(counters.entries.has("now@x")).toBe(true);
    expect(s.calls).toEqual([[{ subject: "late@x", windowStart: t, delta: 3 }]]);
    expect(counters.entries.has("late@x")).toBe(true);
    await counters.flush(s.store, [], t + WINDOW_MS + 20);
    expect(counters.entries.has("late@x")).toBe(false);
  });
});

describe("rateCharge (a batch of n messages counts n)", () => {
  it("charges whole units and refuses what passes the limit, charging nothing then", async () => {
    const { req, counters } = limiter(10, null);
    const charged = async (units: number) =>
      ((await (await req("k@x", { "x-units": String(units) })).json()) as { charged: unknown }).charged;
    expect(await charged(3.9)).toEqual({ ok: true }); // 1 + 3
    expect(counters.entries.get("k@x")!.pending).toBe(4);
    expect(await charged(5)).toEqual({ ok: true }); // 5 + 5 = 10
    expect(counters.entries.get("k@x")!.pending).toBe(10);
    expect((await req("k@x")).status).toBe(429);
    const other = limiter(10, null);
    const refused = (await (await other.req("l@x", { "x-units": "10" })).json()) as {
      charged: { ok: boolean; retryAfter: number; limit: number };
    };
    expect(refused.charged.ok).toBe(false);
    expect(refused.charged.limit).toBe(10);
    expect(refused.charged.retryAfter).toBeGreaterThanOrEqual(1);
    expect(refused.charged.retryAfter).toBeLessThanOrEqual(60);
    expect(other.counters.entries.get("l@x")!.pending).toBe(1);
    // 9 more fit exactly
    expect(((await (await other.req("l@x", { "x-units": "8" })).json()) as { charged: unknown }).charged).toEqual({
      ok: true,
    });
    expect(other.counters.entries.get("l@x")!.pending).toBe(10);
  });

  it("charges nothing for negative units", async () => {
    const { req, counters } = limiter(10, null);
    expect(((await (await req("m@x", { "x-units": "-5" })).json()) as { charged: unknown }).charged).toEqual({
      ok: true,
    });
    expect(counters.entries.get("m@x")!.pending).toBe(1);
  });
});

describe("rateLimit windows and Retry-After", () => {
  it("gives the seconds left in the window, at least 1", async () => {
    const t = Math.ceil(Date.now() / WINDOW_MS) * WINDOW_MS + 100 * WINDOW_MS;
    vi.useFakeTimers({ now: t + 15_500, toFake: ["Date"] });
    const { req } = limiter(1, null);
    await req("r@x");
    expect((await req("r@x")).headers.get("retry-after")).toBe("45");
    const { req: charging } = limiter(1, null);
    const refused = (await (await charging("q@x", { "x-units": "5" })).json()) as {
      charged: { ok: boolean; retryAfter: number };
    };
    expect(refused.charged).toMatchObject({ ok: false, retryAfter: 45 });
    vi.setSystemTime(t + WINDOW_MS - 10);
    const { req: req2 } = limiter(1, null);
    await req2("r@x");
    expect((await req2("r@x")).headers.get("retry-after")).toBe("1");
  });

  it("counts each request once: pending is the admitted count", async () => {
    const { req, counters } = limiter(5, null);
    for (let i = 0; i < 3; i++) await req("p@x");
    expect(counters.entries.get("p@x")).toMatchObject({ pending: 3, global: 0 });
  });
});

describe("userRateLimit", () => {
  it("uses the given store and RATE_LIMIT_SYNC_MS", async () => {
    const s = memoryStore();
    const settings = () => ({ RATE_LIMIT_PER_MINUTE: 5, RATE_LIMIT_SYNC_MS: 300 });
    const app = new Hono<{ Variables: { identity: { email: string } } }>()
      .use("*", async (c, next) => {
        c.set("identity", { email: "u@x" });
        await next();
      })
      .use(
        "*",
        userRateLimit(settings, new WindowCounters(), () => s.store),
      )
      .all("*", (c) => c.json({ ok: true }));
    const { waits, ctx } = executionCtx();
    expect((await app.request("/x", {}, {}, ctx as never)).status).toBe(200);
    expect(s.calls[0]).toEqual([{ subject: "u@x", windowStart: expect.any(Number), delta: 0 }]);
    await new Promise((r) => setTimeout(r, 80));
    expect(s.calls).toHaveLength(1); // the background flush waits RATE_LIMIT_SYNC_MS
    await Promise.all(waits);
    expect([...s.rows.values()]).toEqual([1]);
  });
});
