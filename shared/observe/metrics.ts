/**
 * Prometheus metrics kept in isolate memory: counters, gauges and histograms with bounded label
 * sets, a JSON snapshot one worker hands another (the edge gathers every worker's into one
 * scrape), and the text exposition formats (Prometheus 0.0.4 and OpenMetrics 1.0).
 *
 * Why not prom-client: it is written for Node (its default collectors and cluster aggregation
 * import `cluster`, `v8` and `perf_hooks`, and it keeps one process-wide registry), while a
 * workerd isolate is per worker and a scrape must merge five of them. What a worker needs is
 * small: this module, with its unit tests in shared/observe/metrics.test.ts.
 *
 * Labels are bounded by construction: each family accepts at most {@link MAX_SERIES} label sets,
 * further ones are counted under every label set to `"other"`. Callers pass only bounded values
 * (server ids, tool names from the catalog, MCP method names from a fixed list, outcome words),
 * never a user's e-mail, id, key or session.
 */

export type Labels = Record<string, string>;
export type MetricType = "counter" | "gauge" | "histogram";

/** Series one family may hold before new label sets are folded into `other`. Default 1000. */
export const MAX_SERIES = 1000;

/** Latency buckets in seconds (1 ms to 30 s). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Series {
  labels: Labels;
  /** counter / gauge value, or histogram sum */
  value: number;
  /** histogram: count per bucket (not cumulative), then +Inf */
  buckets?: number[];
  count?: number;
}

/** One metric family as a worker reports it (JSON-safe). */
export interface FamilySnapshot {
  name: string;
  help: string;
  type: MetricType;
  labelNames: string[];
  buckets?: number[];
  series: Series[];
}

const families = new Map<string, Family>();

class Family {
  readonly series = new Map<string, Series>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: string[],
    readonly buckets?: number[],
  ) {}

  get(labels: Labels): Series {
    const values = this.labelNames.map((n) => String(labels[n] ?? ""));
    let key = values.join("\u0000");
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= MAX_SERIES) {
        key = this.labelNames.map(() => "other").join("\u0000");
        s = this.series.get(key);
        if (s) return s;
        values.fill("other");
      }
      s = { labels: Object.fromEntries(this.labelNames.map((n, i) => [n, values[i]!])), value: 0 };
      if (this.buckets) {
        s.buckets = new Array(this.buckets.length + 1).fill(0);
        s.count = 0;
      }
      this.series.set(key, s);
    }
    return s;
  }

  snapshot(): FamilySnapshot {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      labelNames: this.labelNames,
      ...(this.buckets ? { buckets: this.buckets } : {}),
      series: [...this.series.values()].map((s) => ({
        ...s,
        labels: { ...s.labels },
        ...(s.buckets ? { buckets: [...s.buckets] } : {}),
      })),
    };
  }
}

function family(name: string, help: string, type: MetricType, labelNames: string[], buckets?: number[]): Family {
  const existing = families.get(name);
  if (existing) return existing;
  const f = new Family(name, help, type, labelNames, buckets);
  families.set(name, f);
  return f;
}

export interface Counter<L extends string> {
  inc(labels: Record<L, string>, by?: number): void;
}
export interface Gauge<L extends string> {
  set(labels: Record<L, string>, value: number): void;
  add(labels: Record<L, string>, by: number): void;
}
export interface Histogram<L extends string> {
  observe(labels: Record<L, string>, seconds: number): void;
}

/** A counter (name should end in `_total`). */
export function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const f = family(name, help, "counter", [...labelNames]);
  return { inc: (labels, by = 1) => void (f.get(labels).value += by) };
}

/** A gauge. */
export function gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
  const f = family(name, help, "gauge", [...labelNames]);
  return {
    set: (labels, value) => void (f.get(labels).value = value),
    add: (labels, by) => void (f.get(labels).value += by),
  };
}

/** A histogram of seconds (default {@link LATENCY_BUCKETS}). */
export function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets = LATENCY_BUCKETS,
): Histogram<L> {
  const f = family(name, help, "histogram", [...labelNames], buckets);
  return {
    observe(labels, seconds) {
      const s = f.get(labels);
      let i = buckets.findIndex((b) => seconds <= b);
      if (i < 0) i = buckets.length;
      s.buckets![i]! += 1;
      s.count! += 1;
      s.value += seconds;
    },
  };
}

/** This isolate's families, as JSON. */
export function snapshot(): FamilySnapshot[] {
  return [...families.values()].map((f) => f.snapshot());
}

/** Clears every family's series (tests). */
export function resetMetrics(): void {
  for (const f of families.values()) f.series.clear();
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const num = (v: number) => (Number.isFinite(v) ? String(v) : v > 0 ? "+Inf" : v < 0 ? "-Inf" : "NaN");

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Content types of the two formats. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/**
 * Renders the snapshots of several workers as one exposition: families of the same name merged
 * (one HELP/TYPE block), each series labelled `worker="<name>"`. OpenMetrics: counters' family
 * names without `_total`, and the closing `# EOF`.
 */
export function render(sources: { worker: string; families: FamilySnapshot[] }[], openMetrics = false): string {
  const merged = new Map<string, { f: FamilySnapshot; rows: { worker: string; s: Series }[] }>();
  for (const { worker, families: fs } of sources) {
    for (const f of fs) {
      let m = merged.get(f.name);
      if (!m) merged.set(f.name, (m = { f, rows: [] }));
      if (m.f.type !== f.type) continue; // a family of another type under the same name: skip, never emit a broken exposition
      for (const s of f.series) m.rows.push({ worker, s });
    }
  }
  const out: string[] = [];
  for (const { f, rows } of [...merged.values()].sort((a, b) => a.f.name.localeCompare(b.f.name))) {
    const familyName = openMetrics && f.type === "counter" ? f.name.replace(/_total$/, "") : f.name;
    out.push(`# HELP ${familyName} ${escapeHelp(f.help)}`, `# TYPE ${familyName} ${f.type}`);
    for (const { worker, s } of rows) {
      const labels = { worker, ...s.labels };
      if (f.type === "histogram") {
        let cumulative = 0;
        f.buckets!.forEach((b, i) => {
          cumulative += s.buckets![i] ?? 0;
          out.push(`${f.name}_bucket${labelText(labels, ["le", num(b)])} ${cumulative}`);
        });
        cumulative += s.buckets![f.buckets!.length] ?? 0;
        out.push(`${f.name}_bucket${labelText(labels, ["le", "+Inf"])} ${cumulative}`);
        out.push(
          `${f.name}_sum${labelText(labels)} ${num(s.value)}`,
          `${f.name}_count${labelText(labels)} ${s.count ?? cumulative}`,
        );
      } else {
        const sample = openMetrics && f.type === "counter" && !f.name.endsWith("_total") ? `${f.name}_total` : f.name;
        out.push(`${sample}${labelText(labels)} ${num(s.value)}`);
      }
    }
  }
  if (openMetrics) out.push("# EOF");
  return out.join("\n") + "\n";
}
