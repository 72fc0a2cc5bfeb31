/** shared/cache/versioned.ts inside workerd, on a controlled clock: when the version is read, stale use, fail closed. */
import { describe, expect, it } from "vitest";
import { VersionGate, VersionUnavailable, VersionedCache } from "../../shared/cache/versioned";

function setup() {
  let now = 1_000_000;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const gate = new VersionGate(clock.now);
  const later: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => void later.push(p) };
  let version = 1;
  let down = false;
  const reads: boolean[] = [];
  const read = async (background: boolean) => {
    reads.push(background);
    if (down) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    return version;
  };
  const opts = { ttlMs: 500, staleMaxMs: 3000 };
  return {
    clock,
    gate,
    ctx,
    later,
    reads,
    opts,
    current: () => gate.current(read, ctx, opts),
    set: (v: number) => (version = v),
    setDown: (d: boolean) => (down = d),
  };
}

describe("VersionGate", () => {
  it("reads inline first, then not again within the TTL", async () => {
    const s = setup();
    expect(await s.current()).toEqual({ version: 1, stale: false });
    s.set(2);
    s.clock.advance(499);
    expect(await s.current()).toEqual({ version: 1, stale: false });
    expect(s.reads).toEqual([false]);
  });

  it("past the TTL answers at once and re-reads in the background; past 1.5 s reads inline", async () => {
    const s = setup();
    await s.current();
    s.set(2);
    s.clock.advance(600);
    expect((await s.current()).version).toBe(1);
    expect(s.reads).toEqual([false, true]);
    await Promise.all(s.later);
    expect((await s.current()).version).toBe(2);
    s.set(3);
    s.clock.advance(1600);
    expect((await s.current()).version).toBe(3);
    expect(s.reads).toEqual([false, true, false]);
  });

  it("with TTL 0 reads on every request", async () => {
    const s = setup();
    const opts = { ttlMs: 0, staleMaxMs: 0 };
    const read = async () => 7;
    await s.gate.current(read, s.ctx, opts);
    expect(await s.gate.current(async () => 8, s.ctx, opts)).toEqual({ version: 8, stale: false });
  });

  it("serves the last version as stale while reads fail, then fails closed", async () => {
    const s = setup();
    await s.current();
    s.setDown(true);
    s.clock.advance(2000);
    expect(await s.current()).toEqual({ version: 1, stale: true });
    s.clock.advance(1100);
    await expect(s.current()).rejects.toBeInstanceOf(VersionUnavailable);
    s.setDown(false);
    s.clock.advance(300);
    expect(await s.current()).toEqual({ version: 1, stale: false });
  });

  it("fails closed at once when it never read the version", async () => {
    const s = setup();
    s.setDown(true);
    await expect(s.current()).rejects.toBeInstanceOf(VersionUnavailable);
  });
});

describe("VersionedCache", () => {
  it("drops entries read at an older version or past their expiry, and keeps a bound", () => {
    let now = 0;
    const c = new VersionedCache<string>(2, () => now);
    c.set("a", "A", 5);
    expect(c.get("a", 5)).toBe("A");
    expect(c.get("a", 6)).toBeUndefined();
    c.set("b", "B", 6, 100);
    now = 100;
    expect(c.get("b", 6)).toBeUndefined();
    c.set("x", "X", 1);
    c.set("y", "Y", 1);
    c.set("z", "Z", 1);
    expect(c.size).toBe(2);
    expect(c.get("x", 1)).toBeUndefined();
  });
});
