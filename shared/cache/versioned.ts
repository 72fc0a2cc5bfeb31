/**
 * Isolate-memory caching against a version counter (catalog_state.version, bumped by triggers on
 * every change that matters): a {@link VersionGate} tells a request which version is current
 * without asking Postgres on every request, and a {@link VersionedCache} keeps values tagged with
 * the version they were read at.
 *
 * The gate's rules (times per isolate):
 * - last successful read younger than `ttlMs`: use it, no query;
 * - younger than `maxInlineAgeMs`: use it and re-read after the response (the caller's waitUntil),
 *   so under steady traffic no request waits for the version query;
 * - older: read inline, so a change is always seen within `maxInlineAgeMs` (+ one query);
 * - the read fails (Postgres unreachable): the last version stays usable ("stale") until
 *   `staleMaxMs` after the last successful read, then {@link VersionUnavailable} is thrown
 *   (fail closed). While the stale version is usable, failed reads are retried at most every max(`ttlMs`, 200 ms).
 * - `ttlMs` 0: read on every request (changes in force at once; one query per request).
 *
 * No promise is shared between requests (workerd ties I/O to the request that started it): each
 * request that must read inline does its own read, and one background read at a time is allowed.
 */

export interface VersionGateOptions {
  /** Age (ms) below which the remembered version is used as is. */
  ttlMs: number;
  /** Age (ms) above which a request waits for a fresh read. Default max(ttlMs, 1500); 0 when ttlMs is 0 (read on every request). */
  maxInlineAgeMs?: number;
  /** How long (ms) after the last successful read the version stays usable while reads fail. */
  staleMaxMs: number;
}

/** What a request may rely on: the version, and whether it is served from a failed-read window. */
export interface GateReading {
  version: number;
  stale: boolean;
}

/** The version cannot be read and the last good one is too old to use. */
export class VersionUnavailable extends Error {
  constructor(cause?: unknown) {
    super("the version store is unreachable", { cause });
  }
}

/** What a request offers for work after its response (`ExecutionContext`). */
export interface WaitUntil {
  waitUntil(p: Promise<unknown>): void;
}

/** The version as one isolate knows it; see the module header. */
export class VersionGate {
  private version = -1;
  private okAt = 0;
  private failedAt = 0;
  private refreshing = false;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * The version this request may use.
   * @param read reads the version (opens what it needs itself when `background` is true)
   * @throws VersionUnavailable when it cannot be read and the last good read is older than `staleMaxMs`
   */
  async current(
    read: (background: boolean) => Promise<number>,
    ctx: WaitUntil,
    opts: VersionGateOptions,
  ): Promise<GateReading> {
    const now = this.now();
    const age = now - this.okAt;
    const maxInline = opts.maxInlineAgeMs ?? (opts.ttlMs === 0 ? 0 : Math.max(opts.ttlMs, 1500));
    if (this.version >= 0 && age < opts.ttlMs) return { version: this.version, stale: false };
    if (this.version >= 0 && age < maxInline) {
      if (!this.refreshing && now - this.failedAt > opts.ttlMs) {
        this.refreshing = true;
        ctx.waitUntil(
          this.readInto(() => read(true))
            .catch(() => {})
            .finally(() => (this.refreshing = false)),
        );
      }
      return { version: this.version, stale: false };
    }
    // too old to use without asking, unless a read just failed
    const usableStale = this.version >= 0 && age <= opts.staleMaxMs;
    if (!(usableStale && now - this.failedAt < Math.max(opts.ttlMs, 200))) {
      try {
        return { version: await this.readInto(() => read(false)), stale: false };
      } catch (err) {
        if (this.version < 0 || this.now() - this.okAt > opts.staleMaxMs) throw new VersionUnavailable(err);
      }
    }
    if (this.now() - this.okAt > opts.staleMaxMs) throw new VersionUnavailable();
    return { version: this.version, stale: true };
  }

  /** Makes the next request read the version inline (after this isolate changed something). */
  forget(): void {
    this.okAt = 0;
  }

  private async readInto(read: () => Promise<number>): Promise<number> {
    const startedAt = this.now();
    try {
      const v = await read();
      // never go back: a slow read may finish after a faster, newer one
      if (v >= this.version) this.version = v;
      this.okAt = Math.max(this.okAt, startedAt);
      this.failedAt = 0;
      return this.version;
    } catch (err) {
      this.failedAt = this.now();
      throw err;
    }
  }
}

/** A bounded Map of values tagged with the version they were read at, and an optional expiry. */
export class VersionedCache<V> {
  private readonly entries = new Map<string, { value: V; version: number; until: number }>();

  /** @param max entries kept; the oldest inserted goes first. Default 10,000. */
  constructor(
    private readonly max = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The value cached for `key` at `version` (or later) and not expired, else undefined. */
  get(key: string, version: number): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.version < version || e.until <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  /** Caches `value` as read at `version`, until `until` (epoch ms; default never). */
  set(key: string, value: V, version: number, until = Number.POSITIVE_INFINITY): void {
    if (until <= this.now()) return;
    this.entries.delete(key);
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, version, until });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
