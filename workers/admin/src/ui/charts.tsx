/** Charts as inline SVG rendered on the server (no scripts, no chart library). */
import type { UsageReport, UsageStats } from "../../../../shared/repos/reports.repo";

const COLORS = { ok: "#3b82c4", error: "#d1493f", denied: "#e0a526", p50: "#2f855a", p95: "#805ad5" };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((k) => k * p).find((x) => x >= v) ?? v;
}

function label(d: Date, bucket: UsageReport["bucket"]): string {
  const iso = d.toISOString();
  return bucket === "day" ? iso.slice(5, 10) : iso.slice(11, 16);
}

/** Stacked bars of calls per time bucket (ok / error / denied). */
export function CallsChart(props: { report: UsageReport }) {
  const { series, bucket } = props.report;
  const W = 1100, H = 220, L = 44, B = 30, T = 10;
  const max = niceMax(Math.max(0, ...series.map((s) => s.calls)));
  const bw = series.length ? Math.max(2, Math.min(40, (W - L - 10) / series.length - 2)) : 0;
  const y = (v: number) => T + (H - T - B) * (1 - v / max);
  const every = Math.max(1, Math.ceil(series.length / 10));
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width={W} class="chart" role="img" aria-label="tool calls over time">
      {[0, 0.5, 1].map((f) => (
        <g>
          <line x1={L} x2={W - 5} y1={y(max * f)} y2={y(max * f)} stroke="#e3e7ee" />
          <text x={L - 6} y={y(max * f) + 4} text-anchor="end">{String(Math.round(max * f))}</text>
        </g>
      ))}
      {series.map((s, i) => {
        const x = L + 4 + i * (bw + 2);
        const ok = s.calls - s.errors - s.denied;
        return (
          <g>
            <title>{`${s.at.toISOString()}: ${s.calls} calls, ${s.errors} errors, ${s.denied} denied`}</title>
            <rect x={x} width={bw} y={y(ok)} height={y(0) - y(ok)} fill={COLORS.ok} />
            <rect x={x} width={bw} y={y(ok + s.errors)} height={y(ok) - y(ok + s.errors)} fill={COLORS.error} />
            <rect x={x} width={bw} y={y(s.calls)} height={y(ok + s.errors) - y(s.calls)} fill={COLORS.denied} />
            {i % every === 0 && <text x={x + bw / 2} y={H - 12} text-anchor="middle">{label(s.at, bucket)}</text>}
          </g>
        );
      })}
      {series.length === 0 && <text x={W / 2} y={H / 2} text-anchor="middle">no tool calls in this window</text>}
      <g transform={`translate(${L + 4},${H - 2})`}>
        <rect width="10" height="8" y="-8" fill={COLORS.ok} /><text x="14" y="0">ok</text>
        <rect x="44" width="10" height="8" y="-8" fill={COLORS.error} /><text x="58" y="0">error</text>
        <rect x="100" width="10" height="8" y="-8" fill={COLORS.denied} /><text x="114" y="0">denied</text>
      </g>
    </svg>
  );
}

/** p50 and p95 latency per time bucket as two lines. */
export function LatencyChart(props: { report: UsageReport }) {
  const pts = props.report.series.filter((s) => s.p50Ms !== null);
  const W = 1100, H = 180, L = 54, B = 26, T = 10;
  const max = niceMax(Math.max(0, ...pts.map((s) => s.p95Ms ?? 0)));
  const x = (i: number) => L + (pts.length <= 1 ? (W - L - 10) / 2 : (i * (W - L - 10)) / (pts.length - 1));
  const y = (v: number) => T + (H - T - B) * (1 - v / max);
  const path = (k: "p50Ms" | "p95Ms") => pts.map((s, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(s[k] ?? 0).toFixed(1)}`).join(" ");
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width={W} class="chart" role="img" aria-label="latency over time">
      {[0, 0.5, 1].map((f) => (
        <g>
          <line x1={L} x2={W - 5} y1={y(max * f)} y2={y(max * f)} stroke="#e3e7ee" />
          <text x={L - 6} y={y(max * f) + 4} text-anchor="end">{`${Math.round(max * f)} ms`}</text>
        </g>
      ))}
      {pts.length > 0 && <path d={path("p95Ms")} fill="none" stroke={COLORS.p95} stroke-width="2" />}
      {pts.length > 0 && <path d={path("p50Ms")} fill="none" stroke={COLORS.p50} stroke-width="2" />}
      {pts.map((s, i) => (
        <g>
          <circle cx={x(i)} cy={y(s.p95Ms ?? 0)} r="3" fill={COLORS.p95}><title>{`p95 ${s.p95Ms} ms`}</title></circle>
          <circle cx={x(i)} cy={y(s.p50Ms ?? 0)} r="3" fill={COLORS.p50}><title>{`p50 ${s.p50Ms} ms`}</title></circle>
        </g>
      ))}
      {pts.length === 0 && <text x={W / 2} y={H / 2} text-anchor="middle">no latency data in this window</text>}
      <g transform={`translate(${L + 4},${H - 4})`}>
        <rect width="10" height="3" y="-5" fill={COLORS.p50} /><text x="14" y="0">p50</text>
        <rect x="50" width="10" height="3" y="-5" fill={COLORS.p95} /><text x="64" y="0">p95</text>
      </g>
    </svg>
  );
}

/** Horizontal bars: calls per key (user, tenant, server or tool), error share in red. */
export function BarsChart(props: { rows: (UsageStats & { key: string })[]; title: string }) {
  const rows = props.rows.slice(0, 10);
  const W = 540, row = 22, L = 170, H = Math.max(1, rows.length) * row + 8;
  const max = Math.max(1, ...rows.map((r) => r.calls));
  const w = (v: number) => ((W - L - 50) * v) / max;
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width={W} class="chart" role="img" aria-label={props.title}>
      {rows.map((r, i) => (
        <g transform={`translate(0,${i * row + 4})`}>
          <title>{`${r.key}: ${r.calls} calls, ${(r.errorRate * 100).toFixed(1)}% errors, p50 ${r.p50Ms ?? "—"} ms, p95 ${r.p95Ms ?? "—"} ms`}</title>
          <text x={L - 6} y="13" text-anchor="end">{r.key.length > 24 ? r.key.slice(0, 23) + "…" : r.key}</text>
          <rect x={L} y="2" height="15" width={w(r.calls - r.errors)} fill={COLORS.ok} />
          <rect x={L + w(r.calls - r.errors)} y="2" height="15" width={w(r.errors)} fill={COLORS.error} />
          <text x={L + w(r.calls) + 5} y="13">{String(r.calls)}</text>
        </g>
      ))}
      {rows.length === 0 && <text x={W / 2} y="14" text-anchor="middle">no data</text>}
    </svg>
  );
}
