/**
 * A per-isolate least-recently-used cache bounded by entry count and by total weight (e.g. the
 * size of what an entry was parsed from), for values too large to keep one per key without a
 * limit (a user's catalog). Plain data only: never cache a Promise or an I/O object (workerd ties
 * I/O to the request that created it).
 */
export class BoundedLru<V> {
  private readonly entries = new Map<string, { value: V; weight: number }>();
  private total = 0;

  /**
   * @param maxEntries entries kept at most
   * @param maxWeight sum of the entries' weights kept at most; an entry heavier than this is not kept
   */
  constructor(
    private readonly maxEntries: number,
    private readonly maxWeight: number,
  ) {}

  /** The value for `key` (marking it most recently used), or undefined. */
  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  /** Keeps `value` under `key` (most recently used), evicting the least recently used to fit. */
  set(key: string, value: V, weight = 1): void {
    this.delete(key);
    if (weight > this.maxWeight || this.maxEntries < 1) return;
    while (this.entries.size >= this.maxEntries || (this.entries.size > 0 && this.total + weight > this.maxWeight)) {
      this.delete(this.entries.keys().next().value!);
    }
    this.entries.set(key, { value, weight });
    this.total += weight;
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.total -= e.weight;
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The sum of the kept entries' weights. */
  get weight(): number {
    return this.total;
  }
}
